//! Training over several processes on 127.0.0.1 with the CPU backend: 2 and 3 `clap-tools train`
//! processes end with the weights of one process training the same global batches on as many
//! in-process devices, and so do 2 processes of 2 devices each against 4 devices; a job killed with SIGKILL and resumed ends where the uninterrupted job ends;
//! a process that dies makes the others stop with an error within the collective timeout.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap_tools::train::collective::{ENV_COORDINATOR, ENV_LOCAL_RANK, ENV_LOCAL_WORLD_SIZE, ENV_RANK, ENV_WORLD_SIZE};

use crate::common::{ok, s};

/// A config over the demo data: a narrow CNN14 (BatchNorm, dropout) and a small BERT (dropout),
/// SpecAugment on, a batch of 9 (parts of different sizes), 4 iterations, a checkpoint every 2.
fn write_config(dir: &Path, data: &Path, name: &str) -> PathBuf {
    let run = dir.join(name);
    let config = format!(
        r#"
{data_section}
[model]
shared_dim = 16
specaugment = true

[model.audio]
kind = "cnn14"
channels = [4, 8, 8, 16, 16, 16]

[model.text]
kind = "bert"
dir = "{text}"
pretrained = false

[optimizer]
lr = 0.001
grad_clip_norm = 5.0

[schedule]
warmup_iterations = 1
total_iterations = 4

[train]
batch_size = 9
val_interval = 4
val_batch_size = 8
seed = 3
workers = 2

[checkpoint]
dir = "{run}"
every = 2
keep = 2
"#,
        data_section = crate::common::demo_data_toml(data),
        text = s(&dir.join("text")),
        run = s(&run),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    path
}

/// Every tensor of a checkpoint's model.safetensors, by name.
fn weights(checkpoint: &Path) -> Vec<(String, Vec<f32>)> {
    let bytes = std::fs::read(checkpoint.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            let v = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            (name, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The largest difference between two checkpoints' weights (the same tensors in both).
fn max_difference(a: &Path, b: &Path) -> f32 {
    let (a, b) = (weights(a), weights(b));
    assert_eq!(a.iter().map(|t| &t.0).collect::<Vec<_>>(), b.iter().map(|t| &t.0).collect::<Vec<_>>());
    a.iter().zip(&b).flat_map(|(x, y)| x.1.iter().zip(&y.1).map(|(p, q)| (p - q).abs())).fold(0.0f32, f32::max)
}

/// The same config trained by one `clap-tools train` process over `devices` copies of the CPU device
/// (a process of its own: burn's random stream is per process, and other tests here draw from it).
fn train_on_devices(config: &Path, devices: usize) {
    let out = Command::new(env!("CARGO_BIN_EXE_clap-tools"))
        .args(["train", "--config", s(config), "--devices", &devices.to_string()])
        .env("CLAP_TOOLS_CPU_DEVICES", devices.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{devices} devices: {}", String::from_utf8_lossy(&out.stderr));
}

/// `clap-tools train` as process `rank` of `world`, started as `launch` would start it.
fn spawn_rank(config: &Path, rank: usize, world: usize, coordinator: &str, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_clap-tools"))
        .args(["train", "--config", s(config)])
        .args(extra)
        .env(ENV_RANK, rank.to_string())
        .env(ENV_WORLD_SIZE, world.to_string())
        .env(ENV_LOCAL_RANK, rank.to_string())
        .env(ENV_LOCAL_WORLD_SIZE, world.to_string())
        .env(ENV_COORDINATOR, coordinator)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn free_coordinator() -> String {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    format!("127.0.0.1:{}", l.local_addr().unwrap().port())
}

fn wait_for(path: &Path, children: &mut [Child]) {
    let t = Instant::now();
    while !path.exists() {
        assert!(t.elapsed() < Duration::from_secs(300), "{} did not appear", path.display());
        for c in children.iter_mut() {
            assert!(c.try_wait().unwrap().is_none(), "a process ended before {} appeared", path.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn processes_train_as_one_process_on_as_many_devices_and_resume_after_kill() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::common::demo_corpus(dir.path(), 40, 16);
    let last = "checkpoints/iter-00000004";
    for world in [2usize, 3] {
        let reference = write_config(dir.path(), &data, &format!("devices{world}"));
        train_on_devices(&reference, world);

        // `launch` from another working directory, with a relative config path.
        write_config(dir.path(), &data, &format!("procs{world}"));
        let cwd = dir.path().join("elsewhere");
        std::fs::create_dir_all(&cwd).unwrap();
        let rel = format!("../procs{world}.toml");
        let n = world.to_string();
        let out = crate::common::run_in(&cwd, &["launch", "--nprocs", &n, "--", "train", "--config", &rel]);
        assert!(out.0, "launch --nprocs {world}: {}", out.2);
        let run = dir.path().join(format!("procs{world}"));
        let d = max_difference(&run.join(last), &dir.path().join(format!("devices{world}")).join(last));
        assert!(d <= 1e-5, "{world} processes against {world} devices: weights differ by {d}");
        // Rank 0 alone wrote the run: each iteration logged once, validation at 4.
        let log = std::fs::read_to_string(run.join("log.jsonl")).unwrap();
        assert_eq!(log.lines().filter(|l| l.contains("\"loss\"")).count(), 4, "{log}");
        assert!(run.join("best/model.safetensors").is_file());
    }

    // One process per node driving its devices: 2 processes × 2 CPU devices take the parts that 4
    // in-process devices take (rows 0..3, 3..5 | 5..7, 7..9 of 9).
    let reference = write_config(dir.path(), &data, "devices4");
    train_on_devices(&reference, 4);
    write_config(dir.path(), &data, "nodes2x2");
    let out = Command::new(env!("CARGO_BIN_EXE_clap-tools"))
        .args(["launch", "--nprocs", "2", "--", "train", "--config", s(&dir.path().join("nodes2x2.toml"))])
        .args(["--devices", "2"])
        .env("CLAP_TOOLS_CPU_DEVICES", "2")
        .output()
        .unwrap();
    assert!(out.status.success(), "2 processes × 2 devices: {}", String::from_utf8_lossy(&out.stderr));
    let d = max_difference(&dir.path().join("nodes2x2").join(last), &dir.path().join("devices4").join(last));
    assert!(d <= 1e-5, "2 processes × 2 devices against 4 devices: weights differ by {d}");

    // Not a comparison that always holds: one device (BatchNorm over the whole batch, other
    // dropout parts) ends elsewhere.
    let one = write_config(dir.path(), &data, "devices1");
    train_on_devices(&one, 1);
    let d = max_difference(&dir.path().join("devices1").join(last), &dir.path().join("procs2").join(last));
    assert!(d > 1e-4, "one device against two processes: weights differ by only {d}");

    // Two processes killed with SIGKILL once iteration 2's checkpoint is on disk, then resumed.
    let config = write_config(dir.path(), &data, "killed");
    let run = dir.path().join("killed");
    let coordinator = free_coordinator();
    let mut children: Vec<Child> = (0..2).map(|r| spawn_rank(&config, r, 2, &coordinator, &[])).collect();
    wait_for(&run.join("checkpoints/iter-00000002/state.json"), &mut children);
    for c in &mut children {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    assert!(!run.join(last).exists(), "the job ended before it was killed");
    ok(&["launch", "--nprocs", "2", "--", "train", "--config", s(&config), "--resume"]);
    let d = max_difference(&run.join(last), &dir.path().join("procs2").join(last));
    assert!(d <= 1e-5, "killed and resumed against uninterrupted: weights differ by {d}");
}

#[test]
fn a_process_that_dies_stops_the_others_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::common::demo_corpus(dir.path(), 24, 16);
    let config = write_config(dir.path(), &data, "dies");
    let run = dir.path().join("dies");
    let coordinator = free_coordinator();
    let timeout = 10;
    let extra = ["--collective-timeout", "10"];
    let mut children: Vec<Child> = (0..2).map(|r| spawn_rank(&config, r, 2, &coordinator, &extra)).collect();
    // Once training runs (rank 0 has logged an iteration), rank 1 dies.
    let t = Instant::now();
    while !std::fs::read_to_string(run.join("log.jsonl")).is_ok_and(|l| l.contains("\"loss\"")) {
        assert!(t.elapsed() < Duration::from_secs(300), "training did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    children[1].kill().unwrap();
    children[1].wait().unwrap();
    let killed = Instant::now();
    let mut rank0 = children.remove(0);
    let status = loop {
        if let Some(status) = rank0.try_wait().unwrap() {
            break status;
        }
        assert!(killed.elapsed() < Duration::from_secs(3 * timeout), "rank 0 still runs {} s later", 3 * timeout);
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(rank0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "rank 0 ended well after rank 1 died: {err}");
    assert!(err.contains("rank 0 of 2"), "{err}");
}

/// A stand-in for slurm's srun in `dir`: starts `SLURM_NTASKS` copies of the command with the
/// variables slurm gives each task on one node named localhost, waits for all, fails if one does.
fn fake_srun(dir: &Path, tasks: usize) -> PathBuf {
    let bin = dir.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        r#"#!/bin/bash
while [[ "$1" == --* ]]; do shift; done
pids=()
job=$((RANDOM * 7))
for ((i = 0; i < {tasks}; i++)); do
    SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_NTASKS={tasks} SLURM_STEP_NUM_TASKS={tasks} \
    SLURM_STEP_TASKS_PER_NODE={tasks} \
    SLURM_JOB_NODELIST=localhost SLURM_JOB_ID=$job "$@" & pids+=($!)
done
status=0
for p in "${{pids[@]}}"; do wait "$p" || status=$?; done
exit $status
"#
    );
    let path = bin.join("srun");
    std::fs::write(&path, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

#[test]
fn the_slurm_scripts_train_and_pack_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::common::demo_corpus(dir.path(), 24, 16);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = format!("{}:{}", s(&fake_srun(dir.path(), 2)), std::env::var("PATH").unwrap_or_default());
    let bin = env!("CARGO_BIN_EXE_clap-tools");

    // train.sbatch under the stand-in srun: two tasks, the coordinator from SLURM_JOB_NODELIST.
    let config = write_config(dir.path(), &data, "slurm");
    let out = Command::new("bash")
        .arg(repo.join("scripts/slurm/train.sbatch"))
        .current_dir(dir.path())
        .env("PATH", &path)
        .env("BIN", bin)
        .env("CONFIG", &config)
        .args(["--collective-timeout", "60"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "train.sbatch: {err}");
    assert!(err.contains("rank 0 of a job of 2 processes; coordinator localhost:"), "{err}");
    let log = std::fs::read_to_string(dir.path().join("slurm/log.jsonl")).unwrap();
    assert_eq!(log.lines().filter(|l| l.contains("\"exchange_s\"")).count(), 4, "{log}");

    // pack_array.sbatch: the two tasks of an array of 2, then its concat step.
    let packed = dir.path().join("packed");
    let pack = |args: &[&str], task: &str| {
        let out = Command::new("bash")
            .arg(repo.join("scripts/slurm/pack_array.sbatch"))
            .args(args)
            .current_dir(dir.path())
            .env("BIN", bin)
            .env("INPUT", data.join("tables/wav.csv"))
            .env("OUT", &packed)
            .env("N", "2")
            .env("PART_SIZE", "5")
            .env("SLURM_ARRAY_TASK_ID", task)
            .env("SLURM_CPUS_PER_TASK", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "pack_array.sbatch {args:?} {task}: {}", String::from_utf8_lossy(&out.stderr));
    };
    pack(&[], "1");
    pack(&[], "2");
    pack(&["concat"], "");
    let all = clap_tools::table::read_waveforms(&packed.join("waveforms.parquet")).unwrap();
    assert_eq!(all.len(), 24, "every clip packed once across the two slices");
    let index = std::fs::read_to_string(packed.join("waveform.csv")).unwrap();
    assert_eq!(index.lines().count(), 25, "{index}");
}
