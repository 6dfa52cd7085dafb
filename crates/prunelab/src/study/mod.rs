//! Studies above training: pruning and retraining in rounds (iterative pruning, the lottery ticket) and the
//! tables they fill. Sweeps ([`crate::sweep`]) build on these.

mod rounds;
mod table;

pub use rounds::{IterativePruning, LotteryTicket, PruningHistory, PruningRound, Rewind};
pub use table::{SweepRow, SweepTable};
