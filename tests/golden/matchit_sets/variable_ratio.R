# How many controls R MatchIt gives each treated unit in variable-ratio matching, for
# tests/test_matchit_parity.py. Usage: Rscript variable_ratio.R DATA.csv OUT.csv RATIO MAX
#   DATA.csv  columns id, treat (0/1), distance (a propensity score in (0, 1))
# MatchIt allows variable ratios only with a distance vector (its fast path); the counts
# depend only on the allocation rule when controls are plentiful, which is what is compared.
suppressPackageStartupMessages(library(MatchIt))
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[1], colClasses = c(id = "character"))
rownames(dat) <- dat$id
m <- matchit(treat ~ 1, data = dat, method = "nearest", distance = dat$distance,
             ratio = as.numeric(args[3]), max.controls = as.numeric(args[4]))
mm <- m$match.matrix
write.csv(data.frame(treated = rownames(mm), n = rowSums(!is.na(mm))), args[2],
          row.names = FALSE)
