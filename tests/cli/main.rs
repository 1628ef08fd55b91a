//! End-to-end tests that drive the real `citus-migrate` binary against servers the tests start.
//! One test binary (faster to link); one module per command.

mod common;

mod advice;
mod analyze;
mod backup;
mod basics;
mod cluster;
mod connections;
mod conventions;
mod copy;
mod corpus;
mod crash;
mod demo;
mod generate;
mod hostile_names;
mod memory;
mod migrate;
mod online;
mod online_partitions;
mod online_wal;
mod pgcat;
mod resume;
mod standby;
mod trials;
mod verdicts;
mod verify;
mod workload;
