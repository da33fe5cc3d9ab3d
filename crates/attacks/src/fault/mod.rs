//! Fault-injection attacks on a deployed model's weights in memory (rowhammer, voltage or
//! laser glitching): the weights as an 8-bit quantized deployment stores them, and the bit
//! flips an attacker chooses.

pub mod bfa;
pub mod quant;
