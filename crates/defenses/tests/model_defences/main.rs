//! Adversarial training and feature squeezing, each re-attacked. One binary on purpose: each
//! test keeps one core busy for a minute or two, cargo runs test binaries one after another
//! and the tests of one binary side by side, so together they take the longer one's time.

mod adv_train;
mod feature_squeezing;
