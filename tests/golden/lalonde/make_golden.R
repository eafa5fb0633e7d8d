# Golden files from R MatchIt 4.5.1 for the parity tests (tests/test_matchit_parity.py).
# Reproduce from the repository root:  Rscript tests/golden/lalonde/make_golden.R
# Needs: r-base-core, r-cran-matchit, r-cran-sandwich (Debian packages).
#
# Why the distance matrix: MatchIt 4.5.1-4.5.3 routes propensity-score nearest-neighbour
# matching through a new fast algorithm with a known bug (kosukeimai/MatchIt#163): it ignores
# calipers and, on lalonde, pairs 6 of 185 treated units with a control that is not the nearest
# available one. Supplying the same |score difference| as a distance matrix makes MatchIt use
# its classic greedy algorithm, which is the documented semantics (nearest available control,
# treated units in the order given). Rows are put in decreasing score order so that
# m.order = "data" is MatchIt's default "largest first".
suppressPackageStartupMessages({
  library(MatchIt)
  library(sandwich)
})
stopifnot(as.character(packageVersion("MatchIt")) == "4.5.1")
out <- "tests/golden/lalonde"
data("lalonde", package = "MatchIt")
f <- treat ~ age + educ + race + married + nodegree + re74 + re75

ps <- fitted(glm(f, data = lalonde, family = binomial))
lal <- lalonde[order(-ps), ]
lal$distance <- ps[order(-ps)]
D <- abs(outer(lal$distance[lal$treat == 1], lal$distance[lal$treat == 0], "-"))

write_match <- function(m, name) {
  md <- match.data(m, drop.unmatched = FALSE, distance = "ps")
  md$id <- rownames(md)
  if (is.null(md$subclass)) md$subclass <- NA  # matching with replacement has no subclasses
  write.csv(md[, c("id", "treat", "distance", "weights", "subclass")],
            file.path(out, paste0(name, "_units.csv")), row.names = FALSE)
  s <- summary(m, addlvariables = ~distance, data = lal, un = TRUE)
  for (part in c("sum.all", "sum.matched")) {
    tab <- as.data.frame(s[[part]])
    tab$term <- rownames(tab)
    write.csv(tab, file.path(out, paste0(name, "_", part, ".csv")), row.names = FALSE)
  }
  nn <- as.data.frame(s$nn)
  nn$row <- rownames(nn)
  write.csv(nn, file.path(out, paste0(name, "_nn.csv")), row.names = FALSE)
}

# 1:1 nearest neighbour on the logistic propensity score, without replacement, largest first.
m1 <- matchit(f, data = lal, method = "nearest", distance = D, m.order = "data")
write_match(m1, "nearest")

# The same with replacement.
m2 <- matchit(f, data = lal, method = "nearest", distance = D, replace = TRUE)
write_match(m2, "nearest_replace")
gm <- get_matches(m2, data = lal)
gm$id <- as.character(gm$id)
write.csv(gm[, c("id", "subclass", "treat", "weights")],
          file.path(out, "nearest_replace_stacked.csv"), row.names = FALSE)

# Regression-adjusted ATT by g-computation with a matched-pair cluster-robust SE, as in
# MatchIt's "Estimating effects" vignette (marginaleffects::avg_comparisons with
# vcov = ~subclass, which uses sandwich::vcovCL, type HC1). Written out by hand so that
# marginaleffects is not needed.
md <- match.data(m1, data = lal)
fit <- lm(re78 ~ treat * (age + educ + race + married + nodegree + re74 + re75),
          data = md, weights = weights)
tr <- md[md$treat == 1, ]
X1 <- model.matrix(delete.response(terms(fit)), transform(tr, treat = 1))
X0 <- model.matrix(delete.response(terms(fit)), transform(tr, treat = 0))
g <- colSums((X1 - X0) * tr$weights) / sum(tr$weights)
att <- sum(g * coef(fit))
V <- vcovCL(fit, cluster = ~subclass)
se <- sqrt(drop(t(g) %*% V %*% g))
write.csv(data.frame(estimate = att, std_error = se),
          file.path(out, "nearest_att.csv"), row.names = FALSE)
cat(sprintf("ATT %.4f  SE %.4f\n", att, se))
# lalonde.csv beside these files is MatchIt 4.5.1's `lalonde` exactly (write.csv(lalonde)),
# committed so the parity tests run anywhere without R.
