# Runs R MatchIt's classic nearest-neighbour algorithm on a data set written by
# tests/test_matchit_parity.py and writes the matched sets, for a direct comparison.
#
# Usage: Rscript match_sets.R DATA.csv OUT.csv REPLACE RATIO CALIPER EXACT
#   DATA.csv  columns id, treat (0/1), distance (numbers exactly representable in CSV), stratum
#   REPLACE   TRUE/FALSE;  RATIO  whole number;  CALIPER  raw units, or NA for none
#   EXACT     TRUE to match exactly on `stratum`
# The distance is passed as a matrix |d_t - d_c| so that MatchIt 4.5 uses its classic greedy
# algorithm (see tests/golden/lalonde/make_golden.R); rows are in the order to match in
# (m.order = "data"). A caliper on a matrix distance must be in raw units (std.caliper = FALSE).
# Output: one row per (treated id, control id, slot) in MatchIt's match.matrix.
suppressPackageStartupMessages(library(MatchIt))
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[1], colClasses = c(id = "character"))
rownames(dat) <- dat$id
replace <- as.logical(args[3])
ratio <- as.integer(args[4])
caliper <- as.numeric(args[5])
exact <- if (as.logical(args[6])) ~stratum else NULL
D <- abs(outer(dat$distance[dat$treat == 1], dat$distance[dat$treat == 0], "-"))
m <- matchit(treat ~ distance, data = dat, method = "nearest", distance = D,
             m.order = "data", replace = replace, ratio = ratio, exact = exact,
             caliper = if (is.na(caliper)) NULL else caliper, std.caliper = FALSE)
mm <- m$match.matrix
out <- data.frame(treated = rep(rownames(mm), ncol(mm)), control = as.vector(mm),
                  slot = rep(seq_len(ncol(mm)), each = nrow(mm)))
write.csv(out[!is.na(out$control), ], args[2], row.names = FALSE)
