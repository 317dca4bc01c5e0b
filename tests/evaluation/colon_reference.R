# Reference values for tests/evaluation/test_survival.py (R 4.x, package survival).
# The numbers are those recorded in ../shared/data/survival_colon/MANIFEST.md; the same values follow from R's
# built-in `colon` data restricted to etype == 2 (death) or etype == 1 (recurrence).
library(survival)

d <- read.csv("colon_levamisole_5fu_trial_moertel.csv")
d <- subset(d, rx %in% c("Obs", "Lev+5FU"))
nrow(d)                                                   # 619

# Overall survival, Obs vs Lev+5FU
survdiff(Surv(Stime, event) ~ rx, data = d)               # Chisq = 9.965666, p = 0.00159486
fit <- survfit(Surv(Stime, event) ~ rx, data = d)
summary(fit, times = 5 * 365.25)$surv                     # rx=Lev+5FU 0.6340147, rx=Obs 0.5256685

# Recurrence, same groups
survdiff(Surv(time1, event1) ~ rx, data = d)              # Chisq = 18.134724, p = 2.05814e-05

# Equivalent with the built-in data:
# survdiff(Surv(time, status) ~ rx, data = subset(colon, etype == 2 & rx != "Lev"))
