//! The search page: an HTTP server (axum) over an index and its model. Type a caption or drop an
//! audio file, see and play the best clips.
//!
//! # Endpoints
//! ```text
//! GET  /                        the page
//! GET  /api/info                the index: clips, dimension, model
//! GET  /api/search?q=TEXT&k=10  text → clips: {"query", "hits": [{audio_id, score, row, duration, dataset, split, captions, audio}]}
//! POST /api/search/audio?k=10   body = an audio file (any format `pack` reads) → clips that sound alike
//! GET  /audio/{row}             clip `row` of the index as a 16-bit WAV (from its shard or its source file)
//! ```
//! Only clips the index names are ever read: a request carries a row number, never a path. The model
//! runs on one worker thread (requests queue for it; a panic there fails that request only);
//! searches, decoding (bounded by the decoded duration) and WAV encoding run on tokio's blocking
//! pool.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::index::query::{self, Query as IndexQuery, QueryModel};
use crate::index::Index;
use crate::model::checkpoint::Embedder;
use crate::model::tokenizer::CaptionTokenizer;
use crate::shards::WaveformReader;
use clap_tools_backends::burn::tensor::backend::Backend;

const PAGE: &str = include_str!("page.html");

/// Options of [`serve`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    /// The largest audio upload taken, in bytes.
    pub max_upload: usize,
    /// The longest upload taken, in seconds of decoded audio (a small compressed file can decode
    /// into hours): decoding stops there and the request is refused.
    pub max_upload_seconds: f64,
    /// The most hits a request may ask for.
    pub max_k: usize,
}

/// A job for the model's thread: embed a caption or a waveform.
enum Job {
    Text(String, tokio::sync::oneshot::Sender<Result<Vec<f32>>>),
    Audio(Vec<f32>, tokio::sync::oneshot::Sender<Result<Vec<f32>>>),
}

struct AppState {
    index: Index,
    model_name: String,
    sample_rate: u32,
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
    packed: WaveformReader,
    opts: ServeOptions,
}

/// Serve `index` with `model` until the process is interrupted (Ctrl-C). `on_listen` is told the
/// address bound (with the port chosen, when `opts.addr` asks for port 0).
pub fn serve<B: Backend>(
    index: Index,
    model: Embedder<B>,
    tokenizer: CaptionTokenizer,
    opts: ServeOptions,
    on_listen: impl FnOnce(SocketAddr),
) -> Result<()>
where
    Embedder<B>: Send + 'static,
{
    if model.dim() != index.dim() {
        return Err(Error::config(
            "checkpoint",
            format!("the model embeds in {} dims but the index holds {}", model.dim(), index.dim()),
        ));
    }
    let sample_rate = model.config.sample_rate;
    let model_name = format!("{}; {}", model.config.audio.describe(), model.config.text.describe());
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("model".into())
        .spawn(move || {
            let qm = QueryModel { model: &model, tokenizer: Some(&tokenizer) };
            run_jobs(rx, |t| query::embed(&qm, &[IndexQuery::Text(t)], 1), |w| model.audio(&[&w]));
        })
        .map_err(|e| Error::Internal(format!("starting the model thread: {e}")))?;
    let packed = WaveformReader::from_pairs(
        index
            .clips
            .iter()
            .filter_map(|c| c.hdf5_path.as_ref().map(|h| (c.audio_id.clone(), index.clip_file(Path::new(h)))))
            .collect::<Vec<_>>(),
    );
    let state = Arc::new(AppState {
        index,
        model_name,
        sample_rate,
        jobs: std::sync::Mutex::new(tx),
        packed,
        opts: opts.clone(),
    });
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/info", get(info))
        .route("/api/search", get(search_text))
        .route("/api/search/audio", post(search_audio))
        .route("/audio/{row}", get(audio))
        // The upload limit is checked in the handler, for a clear message; this cap is the backstop.
        .layer(DefaultBodyLimit::max(opts.max_upload.saturating_add(1)))
        .with_state(state);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("starting the server runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.addr)
            .await
            .map_err(|e| Error::config("addr", format!("cannot listen on {}: {e}", opts.addr)))?;
        let bound = listener.local_addr().map_err(|e| Error::Internal(format!("listening address: {e}")))?;
        on_listen(bound);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| Error::Internal(format!("server: {e}")))
    })
}

/// The model thread's loop: each job's answer, or its failure. A panic while embedding is that
/// request's error and the thread goes on, so one bad request cannot stop every later search.
fn run_jobs(
    rx: std::sync::mpsc::Receiver<Job>,
    text: impl Fn(String) -> Result<Vec<f32>>,
    audio: impl Fn(Vec<f32>) -> Result<Vec<f32>>,
) {
    let isolated = |f: Box<dyn FnOnce() -> Result<Vec<f32>> + '_>| {
        crate::isolate::isolate("embedding", "the model", f).unwrap_or_else(|m| Err(Error::Internal(m)))
    };
    for job in rx {
        match job {
            Job::Text(t, reply) => {
                let _ = reply.send(isolated(Box::new(|| text(t))));
            }
            Job::Audio(w, reply) => {
                let _ = reply.send(isolated(Box::new(|| audio(w))));
            }
        }
    }
}

/// An error as the page sees it: a status and `{"error": message}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

#[derive(Serialize)]
struct Info {
    clips: usize,
    dim: usize,
    model: String,
    sample_rate: u32,
}

async fn info(State(s): State<Arc<AppState>>) -> Json<Info> {
    Json(Info { clips: s.index.len(), dim: s.index.dim(), model: s.model_name.clone(), sample_rate: s.sample_rate })
}

#[derive(Deserialize)]
struct SearchParams {
    q: Option<String>,
    k: Option<usize>,
}

/// A hit as the page shows it.
#[derive(Serialize)]
struct PageHit<'a> {
    audio_id: &'a str,
    score: f32,
    row: usize,
    duration: Option<f64>,
    dataset: Option<&'a str>,
    split: Option<&'a str>,
    captions: Option<&'a [String]>,
    /// Where to fetch the clip's audio; absent when the index names no audio for it.
    audio: Option<String>,
}

async fn embed(
    s: &AppState,
    job: impl FnOnce(tokio::sync::oneshot::Sender<Result<Vec<f32>>>) -> Job,
) -> Result<Vec<f32>, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    s.jobs.lock().map_err(internal)?.send(job(tx)).map_err(|_| internal("the model thread has stopped"))?;
    rx.await.map_err(|_| internal("the model thread has stopped"))?.map_err(internal)
}

async fn respond(s: Arc<AppState>, label: String, embedding: Vec<f32>, k: Option<usize>) -> Result<Response, ApiError> {
    let k = k.unwrap_or(10).clamp(1, s.opts.max_k);
    let state = s.clone();
    let hits = tokio::task::spawn_blocking(move || state.index.search(&embedding, k))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    let hits: Vec<PageHit> = hits
        .into_iter()
        .flatten()
        .map(|h| {
            let c = &s.index.clips[h.row];
            PageHit {
                audio_id: &c.audio_id,
                score: h.score,
                row: h.row,
                duration: c.duration,
                dataset: c.dataset.as_deref(),
                split: c.split.as_deref(),
                captions: c.captions.as_deref(),
                audio: (c.hdf5_path.is_some() || c.source_file.is_some()).then(|| format!("/audio/{}", h.row)),
            }
        })
        .collect();
    Ok(Json(serde_json::json!({ "query": label, "hits": hits })).into_response())
}

async fn search_text(State(s): State<Arc<AppState>>, Query(p): Query<SearchParams>) -> Result<Response, ApiError> {
    let q = p.q.unwrap_or_default().trim().to_string();
    if q.is_empty() {
        return Err(ApiError(StatusCode::BAD_REQUEST, "give a caption: /api/search?q=…".into()));
    }
    if q.chars().count() > 1000 {
        return Err(ApiError(StatusCode::BAD_REQUEST, "a caption of more than 1000 characters".into()));
    }
    let e = embed(&s, |tx| Job::Text(q.clone(), tx)).await?;
    respond(s, q, e, p.k).await
}

#[derive(Deserialize)]
struct AudioParams {
    k: Option<usize>,
    /// The uploaded file's name: its extension tells the decoder the format.
    name: Option<String>,
}

async fn search_audio(
    State(s): State<Arc<AppState>>,
    Query(p): Query<AudioParams>,
    body: std::result::Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let limit_mb = s.opts.max_upload as f64 / 1e6;
    let too_big = || {
        ApiError(StatusCode::PAYLOAD_TOO_LARGE, format!("the file is larger than this server takes ({limit_mb:.1} MB)"))
    };
    let body = body.map_err(|_| too_big())?;
    if body.len() > s.opts.max_upload {
        return Err(too_big());
    }
    if body.is_empty() {
        return Err(ApiError(StatusCode::BAD_REQUEST, "send an audio file as the request body".into()));
    }
    let name = p.name.unwrap_or_else(|| "upload".into());
    // Only the extension of the name is used, for the decoder's hint; the file is a temporary one.
    let ext: String = Path::new(&name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect();
    let rate = s.sample_rate;
    let max_seconds = s.opts.max_upload_seconds;
    // Decoded on the blocking pool, never on the model's thread; a panic in the decoder is this
    // request's failure (decode_mono_at_most isolates it).
    let wave = tokio::task::spawn_blocking(move || -> std::result::Result<Vec<f32>, String> {
        let mut tmp = tempfile::Builder::new().suffix(&format!(".{ext}")).tempfile().map_err(|e| e.to_string())?;
        std::io::Write::write_all(&mut tmp, &body).map_err(|e| e.to_string())?;
        let d = crate::audio::decode::decode_mono_at_most(tmp.path(), Some(rate), max_seconds).map_err(|e| e.0)?;
        Ok(d.samples)
    })
    .await
    .map_err(internal)?
    .map_err(|e| {
        if e.starts_with(crate::audio::decode::TOO_LONG) {
            ApiError(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{name}: the audio is longer than this server takes ({max_seconds} s)"),
            )
        } else {
            ApiError(StatusCode::BAD_REQUEST, format!("{name}: not audio that can be decoded ({e})"))
        }
    })?;
    if wave.is_empty() {
        return Err(ApiError(StatusCode::BAD_REQUEST, format!("{name}: no audio samples")));
    }
    let e = embed(&s, |tx| Job::Audio(wave, tx)).await?;
    respond(s, name, e, p.k).await
}

async fn audio(State(s): State<Arc<AppState>>, UrlPath(row): UrlPath<String>) -> Result<Response, ApiError> {
    let not_found = || ApiError(StatusCode::NOT_FOUND, format!("no clip {row:?} in this index"));
    let row: usize = row.parse().map_err(|_| not_found())?;
    if row >= s.index.len() {
        return Err(not_found());
    }
    let state = s.clone();
    let wav = tokio::task::spawn_blocking(move || wav_of(&state, row)).await.map_err(internal)??;
    Ok(([(header::CONTENT_TYPE, "audio/wav"), (header::CACHE_CONTROL, "max-age=3600")], wav).into_response())
}

/// Clip `row` as a mono 16-bit WAV: from its shard (at the packed rate) or its source file (at its
/// own rate).
fn wav_of(s: &AppState, row: usize) -> std::result::Result<Vec<u8>, ApiError> {
    let c = &s.index.clips[row];
    let (samples, rate) = if c.hdf5_path.is_some() {
        (s.packed.read(&c.audio_id).map_err(internal)?, s.sample_rate)
    } else if let Some(f) = &c.source_file {
        let d = crate::audio::decode_mono(&s.index.clip_file(Path::new(f)), None)
            .map_err(|e| ApiError(StatusCode::NOT_FOUND, format!("{}: {}", c.audio_id, e.0)))?;
        (d.samples, d.sample_rate)
    } else {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("the index names no audio for {}", c.audio_id)));
    };
    let spec =
        hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut out = std::io::Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    let mut w = hound::WavWriter::new(&mut out, spec).map_err(internal)?;
    for v in samples {
        w.write_sample((v.clamp(-1.0, 1.0) * 32767.0).round() as i16).map_err(internal)?;
    }
    w.finalize().map_err(internal)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_embedding_fails_that_request_and_the_next_one_works() {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let worker = std::thread::spawn(move || {
            run_jobs(
                rx,
                |t| if t == "boom" { panic!("bad input") } else { Ok(vec![t.len() as f32]) },
                |w| Ok(vec![w.len() as f32]),
            )
        });
        let ask = |job: fn(tokio::sync::oneshot::Sender<Result<Vec<f32>>>) -> Job| {
            let (reply, answer) = tokio::sync::oneshot::channel();
            tx.send(job(reply)).unwrap();
            answer.blocking_recv().expect("the model thread answers")
        };
        let err = ask(|r| Job::Text("boom".into(), r)).unwrap_err();
        assert!(err.to_string().contains("bad input"), "{err}");
        assert_eq!(ask(|r| Job::Text("four".into(), r)).unwrap(), vec![4.0]);
        assert_eq!(ask(|r| Job::Audio(vec![0.0; 3], r)).unwrap(), vec![3.0]);
        drop(tx);
        worker.join().unwrap();
    }
}
