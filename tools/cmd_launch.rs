//! `clap-tools launch`: start the processes of a training job on this machine.

use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap_tools::train::collective::{
    split_host_port, ENV_COORDINATOR, ENV_LOCAL_RANK, ENV_LOCAL_WORLD_SIZE, ENV_RANK, ENV_WORLD_SIZE,
};
use tracing::{error, info};

/// Start the processes of a multi-process training job on this machine, for machines without slurm.
///
/// One machine: `clap-tools launch --nprocs 2 -- train --config run.toml` starts 2 processes of
/// `clap-tools train …` that train as one (the global batch split between them, the loss over all
/// of it, the gradients summed); rank 0 logs, validates and writes the run folder. Several
/// machines: run `clap-tools launch --nodes M --node-rank I --nprocs N --coordinator HOST:PORT --
/// train …` on each (I = 0 … M-1; HOST is node 0's address, PORT a free port there). Each process
/// gets CLAP_TOOLS_RANK, CLAP_TOOLS_WORLD_SIZE, CLAP_TOOLS_LOCAL_RANK, CLAP_TOOLS_LOCAL_WORLD_SIZE and
/// CLAP_TOOLS_COORDINATOR; with several per machine, each trains on the GPU of its local rank.
///
/// When one process fails, the others here are stopped and launch fails (exit status 1), naming
/// that process's rank and how it ended. Under slurm, use `srun clap-tools train …` instead
/// (scripts/slurm/train.sbatch).
#[derive(clap::Args)]
pub struct Args {
    /// Processes to start on this machine (one per GPU; on the CPU backend they share it).
    #[arg(long, default_value_t = 1, value_name = "N")]
    nprocs: usize,
    /// Machines in the job.
    #[arg(long, default_value_t = 1, value_name = "M")]
    nodes: usize,
    /// This machine's place, 0 to M-1 (its processes get ranks I·N … I·N + N-1).
    #[arg(long, default_value_t = 0, value_name = "I")]
    node_rank: usize,
    /// Where rank 0 (on node 0) listens for the others: HOST:PORT. Default on one machine:
    /// 127.0.0.1 and a free port.
    #[arg(long, value_name = "HOST:PORT")]
    coordinator: Option<String>,
    /// The clap-tools command each process runs, after `--` (e.g. `-- train --config run.toml`).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub fn run(a: Args) -> Result<()> {
    if a.nprocs == 0 || a.nodes == 0 || a.node_rank >= a.nodes {
        bail!("--nprocs and --nodes must be at least 1, and --node-rank below --nodes");
    }
    let coordinator = match a.coordinator {
        Some(c) => {
            split_host_port(&c)?;
            c
        }
        None if a.nodes == 1 => {
            let l = std::net::TcpListener::bind(("127.0.0.1", 0)).context("no free port for the coordinator")?;
            format!("127.0.0.1:{}", l.local_addr()?.port())
        }
        None => bail!("--coordinator HOST:PORT is needed with several nodes: node 0's address and a free port"),
    };
    let world = a.nodes * a.nprocs;
    let exe = std::env::current_exe().context("cannot find the clap-tools executable")?;
    info!("starting {} process(es) of {world}; coordinator {coordinator}", a.nprocs);
    let mut children: Vec<(usize, Child)> = Vec::with_capacity(a.nprocs);
    for local in 0..a.nprocs {
        let rank = a.node_rank * a.nprocs + local;
        let child = Command::new(&exe)
            .args(&a.command)
            .env(ENV_RANK, rank.to_string())
            .env(ENV_WORLD_SIZE, world.to_string())
            .env(ENV_LOCAL_RANK, local.to_string())
            .env(ENV_LOCAL_WORLD_SIZE, a.nprocs.to_string())
            .env(ENV_COORDINATOR, &coordinator)
            .spawn()
            .with_context(|| format!("cannot start rank {rank}"));
        match child {
            Ok(c) => children.push((rank, c)),
            Err(e) => {
                stop(&mut children);
                return Err(e);
            }
        }
    }
    // Wait for all; the first failure stops the rest (they would wait for it until their timeout).
    let mut failed: Option<(usize, ExitStatus)> = None;
    while !children.is_empty() {
        let mut i = 0;
        while i < children.len() {
            match children[i].1.try_wait() {
                Ok(Some(status)) => {
                    let (rank, _) = children.remove(i);
                    if !status.success() && failed.is_none() {
                        error!("rank {rank} ended with {status}; stopping the other processes");
                        failed = Some((rank, status));
                        stop(&mut children);
                    }
                }
                Ok(None) => i += 1,
                Err(e) => {
                    stop(&mut children);
                    return Err(e).context("cannot wait for a process");
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    match failed {
        None => Ok(()),
        Some((rank, status)) => bail!("rank {rank} ended with {status}"),
    }
}

/// Kill the processes still running and reap them.
fn stop(children: &mut Vec<(usize, Child)>) {
    for (_, c) in children.iter_mut() {
        let _ = c.kill();
    }
    for (_, c) in children.iter_mut() {
        let _ = c.wait();
    }
    children.clear();
}
