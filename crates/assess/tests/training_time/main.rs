//! Training-time defences re-attacked: DP-SGD against LiRA, and the poisoning defences against
//! BadNets and label flipping. One binary on purpose: cargo runs test binaries one after
//! another and the tests of one binary side by side, so the single long DP-SGD test runs
//! beside the poisoning tests instead of after them.

mod membership_dp;
mod poisoning;
