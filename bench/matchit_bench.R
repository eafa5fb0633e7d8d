# R MatchIt side of bench/bench_matching.py (run by it; not a test).
# Usage: Rscript bench/matchit_bench.R DATA_DIR REPLACE OUT_DIR
# Reads the columns bench_matching.py wrote as raw float64 files, then times
#   glm(treated ~ covariates, family = binomial)                      (the model alone)
#   matchit(treated ~ covariates, method = "nearest", distance = "glm", caliper = 0.2,
#           replace = REPLACE)                                        (what users run)
# MatchIt's defaults: propensity score distance, largest score first, caliper 0.2 SD of the
# score. Writes the matched pairs (1-based row numbers, int32) and MatchIt's fitted scores,
# and prints key=value timings.
suppressPackageStartupMessages(library(MatchIt))
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
replace <- as.logical(args[2])
out <- args[3]
cols <- c("treated", "age", "prev_offences", "copas_rate", "female", "prev_custody",
          "years_since_first", "region")
n <- as.integer(readLines(file.path(dir, "n.txt")))
dat <- as.data.frame(lapply(setNames(cols, cols), function(c) {
  readBin(file.path(dir, paste0(c, ".f64")), "double", n)
}))
dat$region <- factor(dat$region)
f <- treated ~ age + prev_offences + copas_rate + female + prev_custody + years_since_first +
  region

t_glm <- system.time(fit <- glm(f, data = dat, family = binomial))[["elapsed"]]
rm(fit)
t_all <- system.time(
  m <- matchit(f, data = dat, method = "nearest", distance = "glm", caliper = 0.2,
               replace = replace)
)[["elapsed"]]
mm <- m$match.matrix
ok <- !is.na(mm[, 1])
tr <- rep(as.integer(rownames(mm)), ncol(mm))
co <- as.integer(as.vector(mm))
keep <- !is.na(co)
writeBin(tr[keep], file.path(out, "r_treated.i32"), size = 4)
writeBin(co[keep], file.path(out, "r_control.i32"), size = 4)
writeBin(as.double(m$distance), file.path(out, "r_score.f64"))
# Peak resident memory of this process (VmHWM; see own_peak_mb in bench_matching.py).
status <- readLines("/proc/self/status")
peak_kb <- as.numeric(strsplit(trimws(sub("VmHWM:", "", grep("^VmHWM", status, value = TRUE))),
                               " +")[[1]][1])
cat(sprintf("glm_s=%.3f\nmatchit_s=%.3f\nmatched=%d\npeak_mb=%.1f\n", t_glm, t_all, sum(ok),
            peak_kb / 1024))
