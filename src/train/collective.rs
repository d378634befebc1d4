//! Training over several processes: one per GPU or one per node, on one machine or many, as one job.
//!
//! The processes exchange through burn-collective (the crate's orchestrator for the rendezvous, its
//! `all_reduce` for the data; see vendor/README.md for the fixes our copy carries). Process `rank` 0
//! runs the orchestrator at the coordinator address; every process serves its part of each exchange
//! on a port picked here from the free ones, so several processes can share a host.
//!
//! What a step exchanges ([`ProcessGroup::gather_rows`], [`ProcessGroup::sum_gradients`]): the
//! embeddings of every process's rows of the global batch, so the InfoNCE loss sees the whole batch
//! (each process keeps the gradient path of its own rows), then the gradients, summed in the order
//! the model's parameters are visited (parameter ids differ between processes). Both go as one flat
//! tensor per exchange.
//!
//! burn-collective has no timeouts: a peer that dies can leave the others waiting for ever. Every
//! exchange here runs on a helper thread and is given [`JobConfig::timeout`]; past it, the process
//! stops with [`Error::Collective`] naming the exchange. That bound covers rank 0's validation (the
//! others wait for it at the next exchange), so it is minutes, not seconds, by default.

use std::net::{TcpListener, ToSocketAddrs, UdpSocket};
use std::ops::Range;
use std::str::FromStr;
use std::sync::mpsc;
use std::time::Duration;

use burn::collective::{self, AllReduceStrategy, CollectiveConfig, PeerId, ReduceOperation};
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorPrimitive};
use clap_tools_backends::burn;

use crate::error::{Error, Result};

/// One process's place in a job, as the launcher (slurm, `clap-tools launch`) gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobConfig {
    /// This process's rank, 0 to `world_size - 1`; rank 0 runs the orchestrator, logs and saves.
    pub rank: usize,
    /// How many processes the job has.
    pub world_size: usize,
    /// This process's rank among those on its host, and how many there are: with several on a
    /// host, each trains on the device of its local rank (one process per GPU).
    pub local_rank: usize,
    pub local_world_size: usize,
    /// `host:port` of rank 0's orchestrator.
    pub coordinator: String,
    /// The host name or address the other processes reach this one at; by default the address this
    /// host uses to reach the coordinator.
    pub advertise: Option<String>,
    /// The longest an exchange may wait for the other processes before this one stops.
    pub timeout: Duration,
}

impl JobConfig {
    /// The default bound on one exchange (rank 0's validation included): 30 minutes.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

    /// Check the values that the launcher or the user gave.
    pub fn check(&self) -> Result<()> {
        if self.world_size == 0 || self.rank >= self.world_size {
            return Err(Error::config("job.rank", format!("rank {} of a job of {}", self.rank, self.world_size)));
        }
        if self.local_world_size == 0 || self.local_rank >= self.local_world_size {
            let (r, n) = (self.local_rank, self.local_world_size);
            return Err(Error::config("job.local_rank", format!("local rank {r} of {n} processes on this host")));
        }
        if self.world_size > 65_536 {
            return Err(Error::config("job.world_size", format!("{} processes (at most 65536)", self.world_size)));
        }
        split_host_port(&self.coordinator)?;
        if self.timeout.is_zero() {
            return Err(Error::config("job.timeout", "must be more than 0 seconds"));
        }
        Ok(())
    }
}

/// The variables `clap-tools launch` sets for each process it starts (and that a user may set by
/// hand on machines without slurm).
pub const ENV_RANK: &str = "CLAP_TOOLS_RANK";
pub const ENV_WORLD_SIZE: &str = "CLAP_TOOLS_WORLD_SIZE";
pub const ENV_LOCAL_RANK: &str = "CLAP_TOOLS_LOCAL_RANK";
pub const ENV_LOCAL_WORLD_SIZE: &str = "CLAP_TOOLS_LOCAL_WORLD_SIZE";
pub const ENV_COORDINATOR: &str = "CLAP_TOOLS_COORDINATOR";

impl JobConfig {
    /// This process's place in a job from its environment: clap-tools' own variables
    /// ([`ENV_RANK`], …) or else those srun gives each task of a job step (`SLURM_PROCID`,
    /// `SLURM_STEP_NUM_TASKS`, `SLURM_LOCALID`, `SLURM_STEP_TASKS_PER_NODE`, and the first node of
    /// `SLURM_JOB_NODELIST` as the coordinator, port 20000 + the job id mod 20000 so that two jobs
    /// sharing a first node do not meet). A batch script's own shell has the allocation's
    /// `SLURM_NTASKS` but is one process: only srun's step variables make a job.
    /// `coordinator` wins over the environment's. None when the job is one process.
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        coordinator: Option<String>,
        timeout: Duration,
    ) -> Result<Option<Self>> {
        let number = |key: &str| -> Result<Option<usize>> {
            match get(key) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| Error::config(key, format!("{v:?} is not a number"))),
            }
        };
        let one = |world: usize| world == 1;
        let job = if let Some(world) = number(ENV_WORLD_SIZE)? {
            if one(world) {
                return Ok(None);
            }
            let rank = number(ENV_RANK)?
                .ok_or_else(|| Error::config(ENV_RANK, format!("not set, but {ENV_WORLD_SIZE} is")))?;
            let coordinator = coordinator.or_else(|| get(ENV_COORDINATOR)).ok_or_else(|| {
                Error::config(ENV_COORDINATOR, "not set: give --coordinator HOST:PORT (rank 0's address)")
            })?;
            Self {
                rank,
                world_size: world,
                local_rank: number(ENV_LOCAL_RANK)?.unwrap_or(0),
                local_world_size: number(ENV_LOCAL_WORLD_SIZE)?.unwrap_or(1),
                coordinator,
                advertise: None,
                timeout,
            }
        } else if let Some(world) = number("SLURM_STEP_NUM_TASKS")? {
            if one(world) {
                return Ok(None);
            }
            let rank = number("SLURM_PROCID")?
                .ok_or_else(|| Error::config("SLURM_PROCID", "not set, but SLURM_STEP_NUM_TASKS is"))?;
            let coordinator = match coordinator {
                Some(c) => c,
                None => {
                    let nodes = get("SLURM_JOB_NODELIST")
                        .or_else(|| get("SLURM_NODELIST"))
                        .ok_or_else(|| Error::config("SLURM_JOB_NODELIST", "not set: give --coordinator HOST:PORT"))?;
                    let port = 20_000 + number("SLURM_JOB_ID")?.unwrap_or(0) % 20_000;
                    format!("{}:{port}", first_host(&nodes)?)
                }
            };
            // "4(x2),3": the tasks on this node are the count of its group; the local id says which.
            let per_node = get("SLURM_STEP_TASKS_PER_NODE")
                .or_else(|| get("SLURM_TASKS_PER_NODE"))
                .and_then(|v| v.split([',', '(']).next()?.trim().parse().ok());
            Self {
                rank,
                world_size: world,
                local_rank: number("SLURM_LOCALID")?.unwrap_or(0),
                local_world_size: per_node.unwrap_or(1),
                coordinator,
                advertise: None,
                timeout,
            }
        } else {
            return Ok(None);
        };
        job.check()?;
        Ok(Some(job))
    }
}

/// The first host of a slurm host list: `node[07-09,12],gpu1` → `node07`.
pub fn first_host(list: &str) -> Result<String> {
    let bad = || Error::config("SLURM_JOB_NODELIST", format!("{list:?} is not a slurm host list"));
    let list = list.trim();
    let (mut depth, mut end) = (0, list.len());
    for (i, c) in list.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let first = &list[..end];
    let host = match first.split_once('[') {
        None => first.to_string(),
        Some((prefix, rest)) => {
            let (range, suffix) = rest.split_once(']').ok_or_else(bad)?;
            let lowest = range.split(',').next().and_then(|r| r.split('-').next()).ok_or_else(bad)?;
            format!("{prefix}{lowest}{suffix}")
        }
    };
    if host.is_empty() || host.contains(['[', ']']) {
        return Err(bad());
    }
    Ok(host)
}

/// `host:port` → (host, port), with a message naming the value.
pub fn split_host_port(addr: &str) -> Result<(String, u16)> {
    let bad = || Error::config("job.coordinator", format!("{addr:?} is not HOST:PORT"));
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// The processes of a job, as this one sees them, on the (inner, non-autodiff) backend `B`.
pub struct ProcessGroup<B: Backend> {
    rank: usize,
    world: usize,
    peer: PeerId,
    timeout: Duration,
    device: B::Device,
    /// Time spent in exchanges since [`take_exchange_time`](Self::take_exchange_time) last asked.
    spent: std::cell::Cell<Duration>,
}

impl<B: Backend> std::fmt::Debug for ProcessGroup<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProcessGroup(rank {} of {})", self.rank, self.world)
    }
}

impl<B: Backend> ProcessGroup<B> {
    /// Join the job: rank 0 starts the orchestrator at the coordinator address; every process
    /// registers with it and waits (at most the timeout) until all have.
    pub fn join(job: &JobConfig, device: &B::Device) -> Result<Self> {
        job.check()?;
        let (host, port) = split_host_port(&job.coordinator)?;
        if job.rank == 0 {
            start_orchestrator(port)?;
        }
        // burn-collective binds its data service itself and cannot report the port it got: take a
        // free one from the system and hand it over (another process could take it in between; the
        // window is a few milliseconds).
        let data_port = free_port()?;
        let advertise = match &job.advertise {
            Some(h) => h.clone(),
            None => local_address_towards(&host, port)?,
        };
        // The scheme is what burn-collective's services speak.
        let address = |h: &str, p: u16| {
            burn_communication::Address::from_str(&format!("ws://{h}:{p}"))
                .map_err(|e| Error::config("job.coordinator", format!("{h}:{p}: {e}")))
        };
        let config = CollectiveConfig::default()
            .with_num_devices(1)
            .with_num_nodes(job.world_size as u32)
            .with_global_address(address(&host, port)?)
            .with_node_address(address(&advertise, data_port)?)
            .with_data_service_port(data_port)
            // The default global strategy (ring) refuses tensors shorter than the number of nodes.
            .with_global_all_reduce_strategy(AllReduceStrategy::Tree(2));
        let group = Self {
            rank: job.rank,
            world: job.world_size,
            peer: PeerId::from(0u32),
            timeout: job.timeout,
            device: device.clone(),
            spent: Default::default(),
        };
        let (peer, dev) = (group.peer, device.clone());
        group.bounded("joining the job", move || {
            collective::register::<B>(peer, dev, config).map_err(|e| format!("{e:?}"))
        })?;
        Ok(group)
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn world_size(&self) -> usize {
        self.world
    }

    /// The time spent in exchanges (waiting for the others included) since the last call.
    pub fn take_exchange_time(&self) -> Duration {
        self.spent.take()
    }

    /// This process's rows of a global batch of `batch` (contiguous, as the in-process devices split
    /// a batch: see [`super::parallel::shard_ranges`]).
    pub fn rows(&self, batch: usize) -> Range<usize> {
        super::parallel::shard_ranges(batch, self.world).get(self.rank).cloned().unwrap_or(batch..batch)
    }

    /// The sum over all processes of a flat tensor.
    ///
    /// # Shapes
    /// - x: [n], the same n in every process → [n]
    pub fn all_reduce_sum(&self, x: Tensor<B, 1>, what: &str) -> Result<Tensor<B, 1>> {
        let peer = self.peer;
        let primitive = x.into_primitive().tensor();
        let out = self.bounded(what, move || {
            collective::all_reduce::<B>(peer, primitive, ReduceOperation::Sum).map_err(|e| format!("{e:?}"))
        })?;
        Ok(Tensor::from_primitive(TensorPrimitive::Float(out)))
    }

    /// Wait until every process has come here (an exchange of one number).
    pub fn barrier(&self, what: &str) -> Result<()> {
        self.all_reduce_sum(Tensor::zeros([1], &self.device), what).map(|_| ())
    }

    /// Whether every process holds the same `value` (a resumed iteration, a batch size): the sum of
    /// the values and of their squares tell.
    pub fn same_everywhere(&self, value: u64, what: &str) -> Result<bool> {
        let v = value as f64;
        let x = Tensor::<B, 1>::from_floats([v as f32, (v * v) as f32], &self.device);
        let sums: Vec<f32> = self
            .all_reduce_sum(x, what)?
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| Error::Device(format!("{e:?}")))?;
        let n = self.world as f64;
        let (mean, mean_sq) = (sums[0] as f64 / n, sums[1] as f64 / n);
        Ok((mean - v).abs() <= 1e-3 * v.max(1.0) && (mean_sq - v * v).abs() <= 1e-3 * (v * v).max(1.0))
    }

    /// Leave the job (after the last exchange). Failing to say goodbye is not an error worth a
    /// failed run: it is logged.
    pub fn finish(self) {
        let peer = self.peer;
        let short = Self { timeout: Duration::from_secs(10).min(self.timeout), ..self };
        if let Err(e) = short
            .bounded("leaving the job", move || collective::finish_collective::<B>(peer).map_err(|e| format!("{e:?}")))
        {
            tracing::debug!("{e}");
        }
    }

    /// Run one blocking burn-collective call on a helper thread, given at most the timeout.
    fn bounded<T: Send + 'static>(
        &self,
        what: &str,
        call: impl FnOnce() -> std::result::Result<T, String> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("collective".into())
            .spawn(move || {
                // A panic inside the call (burn-collective panics when a peer's connection drops)
                // becomes an error here rather than a thread that never answers.
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call))
                    .unwrap_or_else(|p| Err(panic_message(p.as_ref())));
                let _ = tx.send(out);
            })
            .map_err(|e| Error::Internal(format!("cannot start a thread: {e}")))?;
        let err = |msg: String| Error::Collective { rank: self.rank, world: self.world, what: what.to_string(), msg };
        let began = std::time::Instant::now();
        let answer = rx.recv_timeout(self.timeout);
        self.spent.set(self.spent.get() + began.elapsed());
        match answer {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(err(format!("{e} (another process of the job probably stopped)"))),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(err(format!(
                "no answer from the other processes in {} s: one of them stopped or hangs (the bound is --collective-timeout)",
                self.timeout.as_secs()
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(err("the exchange ended without an answer".into())),
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

/// Start burn-collective's orchestrator on `port` (all interfaces) in a thread of its own, after
/// checking that the port is free (the orchestrator would fail silently).
fn start_orchestrator(port: u16) -> Result<()> {
    drop(TcpListener::bind(("0.0.0.0", port)).map_err(|e| {
        Error::config("job.coordinator", format!("rank 0 cannot listen on port {port} for the other processes: {e}"))
    })?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the orchestrator's runtime: {e}")))?;
    std::thread::Builder::new()
        .name("orchestrator".into())
        .spawn(move || runtime.block_on(burn_collective::start_global_orchestrator(port)))
        .map_err(|e| Error::Internal(format!("cannot start a thread: {e}")))?;
    Ok(())
}

/// A port no one listens on now.
fn free_port() -> Result<u16> {
    let l = TcpListener::bind(("0.0.0.0", 0))
        .map_err(|e| Error::Device(format!("no free port for the data service: {e}")))?;
    l.local_addr().map(|a| a.port()).map_err(|e| Error::Device(format!("no free port for the data service: {e}")))
}

/// The address of this host on the route to `host:port` (no packet is sent: a UDP socket only
/// picks its source address).
fn local_address_towards(host: &str, port: u16) -> Result<String> {
    let target = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::config("job.coordinator", format!("cannot resolve {host}: {e}")))?
        .next()
        .ok_or_else(|| Error::config("job.coordinator", format!("{host} resolves to no address")))?;
    let bind = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let socket = UdpSocket::bind(bind).map_err(|e| Error::Device(format!("cannot open a socket: {e}")))?;
    socket.connect(target).map_err(|e| Error::config("job.coordinator", format!("no route to {host}: {e}")))?;
    let ip = socket.local_addr().map_err(|e| Error::Device(format!("{e}")))?.ip();
    Ok(if ip.is_ipv6() { format!("[{ip}]") } else { ip.to_string() })
}

impl<I: Backend> ProcessGroup<I> {
    /// Every process's rows of the embeddings, in rank order; this process's rows keep their
    /// gradient path, the others' enter as constants. Audio and text go in one exchange.
    ///
    /// # Shapes
    /// - audio, text: [rows of this process, dim] → [global batch, dim] each
    pub fn gather_rows<B: AutodiffBackend<InnerBackend = I>>(
        &self,
        audio: Tensor<B, 2>,
        text: Tensor<B, 2>,
        batch: usize,
    ) -> Result<(Tensor<B, 2>, Tensor<B, 2>)> {
        let rows = self.rows(batch);
        let [n, dim] = audio.dims();
        if n != rows.len() || text.dims() != [n, dim] {
            return Err(Error::Internal(format!(
                "rank {}: {n} rows of embeddings for rows {rows:?} of the batch",
                self.rank
            )));
        }
        let device = audio.device();
        let inner = |t: &Tensor<B, 2>| t.clone().inner();
        // A zero-filled global matrix per modality with this process's rows in place: the sum over
        // processes is the gathered batch.
        let place = |local: Tensor<B::InnerBackend, 2>| {
            Tensor::<B::InnerBackend, 2>::zeros([batch, dim], &local.device())
                .slice_assign([rows.clone(), 0..dim], local)
        };
        let flat = Tensor::cat(
            vec![place(inner(&audio)).reshape([batch * dim]), place(inner(&text)).reshape([batch * dim])],
            0,
        );
        let all = self.all_reduce_sum(flat, "gathering the batch's embeddings")?;
        let split = |k: usize, own: Tensor<B, 2>| -> Tensor<B, 2> {
            let global = all.clone().slice(k * batch * dim..(k + 1) * batch * dim).reshape([batch, dim]);
            let mut parts = Vec::with_capacity(3);
            if rows.start > 0 {
                parts.push(Tensor::from_inner(global.clone().slice([0..rows.start, 0..dim])).to_device(&device));
            }
            parts.push(own);
            if rows.end < batch {
                parts.push(Tensor::from_inner(global.slice([rows.end..batch, 0..dim])).to_device(&device));
            }
            Tensor::cat(parts, 0)
        };
        Ok((split(0, audio), split(1, text)))
    }

    /// The gradients summed over all processes: flattened in the order the model's parameters are
    /// visited (the same in every process), exchanged once, put back under this process's ids.
    pub fn sum_gradients<B: AutodiffBackend<InnerBackend = I>, M: AutodiffModule<B>>(
        &self,
        model: &M,
        grads: GradientsParams,
    ) -> Result<GradientsParams> {
        let mut flat = Flatten::<B> { grads, parts: Vec::new(), shapes: Vec::new() };
        model.visit(&mut flat);
        let Flatten { mut grads, parts, shapes } = flat;
        if parts.is_empty() {
            return Ok(grads);
        }
        let sum = self.all_reduce_sum(Tensor::cat(parts, 0), "summing the gradients")?;
        let mut at = 0;
        for (id, shape) in shapes {
            let n: usize = shape.iter().product();
            let part = sum.clone().slice(at..at + n);
            at += n;
            match shape.len() {
                1 => grads.register::<B::InnerBackend, 1>(id, part.reshape([n])),
                2 => grads.register::<B::InnerBackend, 2>(id, part.reshape([shape[0], shape[1]])),
                3 => grads.register::<B::InnerBackend, 3>(id, part.reshape([shape[0], shape[1], shape[2]])),
                4 => grads.register::<B::InnerBackend, 4>(id, part.reshape([shape[0], shape[1], shape[2], shape[3]])),
                d => return Err(Error::Internal(format!("a {d}-dimensional parameter"))),
            }
        }
        Ok(grads)
    }
}

/// Takes the gradient of every parameter that has one, in visit order, as flat tensors.
struct Flatten<B: AutodiffBackend> {
    grads: GradientsParams,
    parts: Vec<Tensor<B::InnerBackend, 1>>,
    shapes: Vec<(burn::module::ParamId, Vec<usize>)>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Flatten<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            let dims = g.dims();
            let n: usize = dims.iter().product();
            self.shapes.push((param.id, dims.to_vec()));
            self.parts.push(g.reshape([n]));
        }
    }
}

/// Makes every parameter's value (burn creates them lazily, at first use): right after a model is
/// built, so its initial weights come from the seed alone, not from what ran before first use.
pub fn materialize<B: Backend, M: Module<B>>(model: &M) {
    struct Touch;
    impl<B: Backend> ModuleVisitor<B> for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let _ = param.val();
        }
    }
    model.visit(&mut Touch);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinator_addresses_are_checked() {
        assert_eq!(split_host_port("node01:29500").unwrap(), ("node01".to_string(), 29500));
        assert_eq!(split_host_port("[::1]:8").unwrap(), ("::1".to_string(), 8));
        for bad in ["node01", "node01:", ":29500", "node01:0", "node01:99999", "node01:x"] {
            let e = split_host_port(bad).unwrap_err().to_string();
            assert!(e.contains("job.coordinator") && e.contains(bad), "{bad}: {e}");
        }
        let job = JobConfig {
            rank: 2,
            world_size: 2,
            local_rank: 0,
            local_world_size: 1,
            coordinator: "h:1".into(),
            advertise: None,
            timeout: JobConfig::DEFAULT_TIMEOUT,
        };
        assert!(job.check().unwrap_err().to_string().contains("rank 2 of a job of 2"));
    }

    #[test]
    fn slurm_host_lists_give_their_first_host() {
        assert_eq!(first_host("node[07-09,12],gpu1").unwrap(), "node07");
        assert_eq!(first_host("gpu1,node[1-2]").unwrap(), "gpu1");
        assert_eq!(first_host("a-[01-02]x").unwrap(), "a-01x");
        assert!(first_host("node[07").is_err() && first_host("").is_err());
    }

    #[test]
    fn the_job_comes_from_the_launchers_variables_or_slurms() {
        let t = Duration::from_secs(60);
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(JobConfig::from_env(env(&[]), None, t).unwrap(), None);
        let one = env(&[("SLURM_STEP_NUM_TASKS", "1"), ("SLURM_PROCID", "0")]);
        assert_eq!(JobConfig::from_env(one, None, t).unwrap(), None);
        // A batch script's shell: the allocation's tasks, but no job step.
        let batch = env(&[("SLURM_NTASKS", "8"), ("SLURM_PROCID", "0"), ("SLURM_JOB_NODELIST", "gpu[03-04]")]);
        assert_eq!(JobConfig::from_env(batch, None, t).unwrap(), None);
        let slurm = env(&[
            ("SLURM_NTASKS", "8"),
            ("SLURM_STEP_NUM_TASKS", "8"),
            ("SLURM_PROCID", "5"),
            ("SLURM_LOCALID", "1"),
            ("SLURM_STEP_TASKS_PER_NODE", "4(x2)"),
            ("SLURM_JOB_NODELIST", "gpu[03-04]"),
            ("SLURM_JOB_ID", "123456"),
        ]);
        let job = JobConfig::from_env(slurm, None, t).unwrap().unwrap();
        assert_eq!((job.rank, job.world_size, job.local_rank, job.local_world_size), (5, 8, 1, 4));
        assert_eq!(job.coordinator, "gpu03:23456");
        // --coordinator wins over the node list.
        let job = JobConfig::from_env(slurm, Some("login1:29500".into()), t).unwrap().unwrap();
        assert_eq!(job.coordinator, "login1:29500");
        // clap-tools' own variables win over slurm's.
        let own = env(&[
            (ENV_RANK, "1"),
            (ENV_WORLD_SIZE, "3"),
            (ENV_COORDINATOR, "127.0.0.1:4000"),
            ("SLURM_STEP_NUM_TASKS", "8"),
            ("SLURM_PROCID", "5"),
        ]);
        let job = JobConfig::from_env(own, None, t).unwrap().unwrap();
        assert_eq!((job.rank, job.world_size, job.coordinator.as_str()), (1, 3, "127.0.0.1:4000"));
        let err = JobConfig::from_env(env(&[(ENV_WORLD_SIZE, "2"), (ENV_RANK, "x")]), None, t).unwrap_err();
        assert!(err.to_string().contains(ENV_RANK), "{err}");
        let err = JobConfig::from_env(env(&[(ENV_WORLD_SIZE, "2"), (ENV_RANK, "0")]), None, t).unwrap_err();
        assert!(err.to_string().contains("--coordinator"), "{err}");
        let err =
            JobConfig::from_env(env(&[(ENV_WORLD_SIZE, "2"), (ENV_RANK, "2"), (ENV_COORDINATOR, "h:1")]), None, t)
                .unwrap_err();
        assert!(err.to_string().contains("rank 2 of a job of 2"), "{err}");
    }
}
