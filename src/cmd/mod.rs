//! One file per command: each turns its arguments into calls to the pipeline and prints the outcome.
pub mod iam;
pub mod init;
pub mod man;
