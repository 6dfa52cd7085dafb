// Copyright 2020 The Evcxr Authors.
//
// Licensed under the Apache License, Version 2.0 <LICENSE or
// https://www.apache.org/licenses/LICENSE-2.0> or the MIT license <LICENSE
// or https://opensource.org/licenses/MIT>, at your option. This file may not be
// copied, modified, or distributed except according to those terms.

use crate::connection::Connection;
use crate::connection::ConnectionGroup;
use crate::connection::ConnectionShutdownRequester;
use crate::connection::RecvError;
use crate::control_file;
use crate::jupyter_message::JupyterMessage;
use anyhow::Result;
use anyhow::bail;
use ariadne::sources;
use crossbeam_channel::RecvTimeoutError;
use crossbeam_channel::Select;
use evcxr::CommandContext;
use evcxr::Theme;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use yansi::Paint as _;

// Note, to avoid potential deadlocks, each thread should lock at most one mutex at a time.
#[derive(Clone)]
pub(crate) struct Server {
    iopub: Arc<Mutex<Connection<zeromq::PubSocket>>>,
    stdin: Arc<Mutex<Connection<zeromq::RouterSocket>>>,
    latest_execution_request: Arc<Mutex<Option<JupyterMessage>>>,
    io_thread_shutdown_sender: Arc<Mutex<Option<crossbeam_channel::Sender<()>>>>,
    tokio_handle: tokio::runtime::Handle,
    // PATCH(prunelab): the execution count of the cell being executed, 0 when idle.
    running_cell: Arc<AtomicU32>,
    // PATCH(prunelab): set when an interrupt had to kill the process of the running cell.
    killed_by_interrupt: Arc<AtomicBool>,
    // PATCH(prunelab): the evaluation context, made in the background while the sockets answer.
    startup: tokio::sync::watch::Receiver<Option<Startup>>,
}

/// PATCH(prunelab): what the background start-up produced: the evaluation context and the handles the
/// control channel needs, or why the kernel could not start.
#[derive(Clone)]
enum Startup {
    Ready {
        context: Arc<std::sync::Mutex<CommandContext>>,
        process_handle: Arc<std::sync::Mutex<std::process::Child>>,
        execution_flag: Arc<AtomicBool>,
    },
    Failed(String),
}

/// PATCH(prunelab): a reply to send on the shell socket, and the `idle` status to publish after it.
type ShellReply = (JupyterMessage, Option<JupyterMessage>);

/// PATCH(prunelab): how many malformed messages in a row a socket may deliver before its handler gives up
/// (a socket that fails to receive fails at once, every time).
const MAX_BAD_MESSAGES_IN_A_ROW: u32 = 10_000;

/// PATCH(prunelab): how long rust-analyzer, loaded by a completion or inspection, is kept after the last
/// one before its memory (over a gigabyte) is given back; `EVCXR_ANALYZER_IDLE_SECS` overrides it.
const ANALYZER_IDLE: Duration = Duration::from_secs(180);

/// PATCH(prunelab): when to say on the log that start-up is still running: after a second, then every ten.
const STARTUP_LOG_FIRST: Duration = Duration::from_secs(1);
const STARTUP_LOG_EVERY: Duration = Duration::from_secs(10);

/// PATCH(prunelab): turns a start-up error into advice for the log and the notebook (set by the embedding
/// binary, see `set_start_error_hint`).
pub(crate) static START_ERROR_HINT: std::sync::OnceLock<fn(&str) -> Option<String>> =
    std::sync::OnceLock::new();

/// PATCH(prunelab): how long a cell has to stop by itself after an interrupt before its process is
/// killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(3);

impl Server {
    pub(crate) fn run(config: &control_file::Control) -> Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            // We only technically need 1 thread. However we've observed that
            // when using vscode's jupyter extension, we can get requests on the
            // shell socket before we have any subscribers on iopub. The iopub
            // subscription then completes, but the execution_state="idle"
            // message(s) have already been sent to a channel that at the time
            // had no subscriptions. The vscode extension then waits
            // indefinitely for an execution_state="idle" message that will
            // never come. Having multiple threads at least reduces the chances
            // of this happening.
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime.handle().clone();
        let result = runtime.block_on(Self::run_async(config, handle));
        // PATCH(prunelab): the output pass-through thread blocks in a channel select that only a
        // shutdown request ends; dropping the runtime waited for it forever, so a kernel whose control
        // loop ended with an error hung instead of exiting (and never printed the error).
        runtime.shutdown_timeout(Duration::from_secs(1));
        result
    }

    async fn run_async(
        config: &control_file::Control,
        tokio_handle: tokio::runtime::Handle,
    ) -> Result<()> {
        let (connection_group, group_shutdown) = ConnectionGroup::new();
        let mut heartbeat = bind_socket::<zeromq::RepSocket>(
            config,
            config.hb_port,
            Some(connection_group.clone()),
        )
        .await?;
        let shell_socket = bind_socket::<zeromq::RouterSocket>(
            config,
            config.shell_port,
            Some(connection_group.clone()),
        )
        .await?;
        let control_socket = bind_socket::<zeromq::RouterSocket>(
            config,
            config.control_port,
            Some(connection_group.clone()),
        )
        .await?;
        let stdin_socket =
            bind_socket::<zeromq::RouterSocket>(config, config.stdin_port, None).await?;
        let iopub_socket =
            bind_socket::<zeromq::PubSocket>(config, config.iopub_port, None).await?;
        let iopub = Arc::new(Mutex::new(iopub_socket));

        // Create a channel pair that's used to signal to the IO thread when to shut down. This
        // needs to be a crossbeam channel because the IO thread uses select together with other
        // crossbeam channels.
        let (shutdown_sender, shutdown_receiver) = crossbeam_channel::unbounded();

        // PATCH(prunelab): the sockets are served before the evaluation context exists. Making it
        // (starting the cell process, running the configuration's `:dep`s, which compile every crate
        // of a new build folder) can take minutes; a kernel that does not answer `kernel_info` meanwhile
        // is declared dead by clients, which then disconnect and reconnect while it starts.
        let (startup_sender, startup) = tokio::sync::watch::channel(None);
        // PATCH(prunelab): asked for rustc's version now, off the runtime's threads, so the first
        // `kernel_info` does not wait for `rustc --version`.
        tokio::task::spawn_blocking(rustc_version);
        let server = Server {
            iopub,
            latest_execution_request: Arc::new(Mutex::new(None)),
            stdin: Arc::new(Mutex::new(stdin_socket)),
            io_thread_shutdown_sender: Arc::new(Mutex::new(Some(shutdown_sender))),
            tokio_handle,
            running_cell: Arc::new(AtomicU32::new(0)),
            killed_by_interrupt: Arc::new(AtomicBool::new(false)),
            startup,
        };

        let (execution_sender, mut execution_receiver) = tokio::sync::mpsc::unbounded_channel();
        let (execution_response_sender, execution_response_receiver) =
            tokio::sync::mpsc::unbounded_channel();

        tokio::spawn(async move {
            if let Err(error) = Self::handle_hb(&mut heartbeat).await {
                eprintln!("hb error: {error:?}");
            }
        });
        {
            let server = server.clone();
            tokio::spawn(async move {
                let result = server
                    .handle_shell(shell_socket, &execution_sender, execution_response_receiver)
                    .await;
                if let Err(error) = result {
                    eprintln!("shell error: {error:?}");
                }
            });
        }
        {
            let server = server.clone();
            let shutdown_receiver = shutdown_receiver.clone();
            tokio::spawn(async move {
                let startup = server.start_context(shutdown_receiver).await;
                let _ = startup_sender.send(Some(startup));
            });
        }
        {
            let server = server.clone();
            tokio::spawn(async move {
                let result = server
                    .handle_execution_requests(&mut execution_receiver, &execution_response_sender)
                    .await;
                if let Err(error) = result {
                    eprintln!("execution error: {error:?}");
                }
            });
        }

        // Don't keep any outstanding instances of our connection group, otherwise things won't shut
        // down properly.
        drop(connection_group);

        // Run the control channel on the main task. Once the control channel handler terminates,
        // we're done.
        server
            .handle_control(control_socket, group_shutdown)
            .await?;
        Ok(())
    }

    /// PATCH(prunelab): makes the evaluation context (the cell process, then the configuration's
    /// commands) on a blocking thread, saying on the log what it does when that takes over a second.
    async fn start_context(&self, shutdown_receiver: crossbeam_channel::Receiver<()>) -> Startup {
        let started = std::time::Instant::now();
        let mut work = tokio::task::spawn_blocking(|| -> Result<_> {
            let (mut context, outputs) = CommandContext::new()?;
            context.execute(":load_config")?;
            Ok((context, outputs))
        });
        let mut wait = STARTUP_LOG_FIRST;
        let result = loop {
            tokio::select! {
                result = &mut work => break result,
                _ = tokio::time::sleep(wait) => {
                    eprintln!(
                        "[evcxr] still starting after {} s: running the start-up configuration, whose \
                         :dep crates are compiled the first time a build folder is used (minutes on a \
                         new machine). The kernel answers meanwhile; cells run once this finishes.",
                        started.elapsed().as_secs()
                    );
                    wait = STARTUP_LOG_EVERY;
                }
            }
        };
        let startup = match result {
            Ok(Ok((context, outputs))) => {
                let process_handle = context.process_handle();
                let execution_flag = context.execution_flag();
                self.clone()
                    .start_output_pass_through_thread(
                        vec![("stdout", outputs.stdout), ("stderr", outputs.stderr)],
                        shutdown_receiver,
                    )
                    .await;
                let context = Arc::new(std::sync::Mutex::new(context));
                tokio::spawn(self.clone().release_idle_analyzer(Arc::clone(&context)));
                Startup::Ready {
                    context,
                    process_handle,
                    execution_flag,
                }
            }
            Ok(Err(error)) => {
                let error = format!("{error:#}");
                let hint = START_ERROR_HINT.get().and_then(|hint| hint(&error));
                Startup::Failed(match hint {
                    Some(hint) => format!("{hint}\n\n{error}"),
                    None => error,
                })
            }
            Err(error) => Startup::Failed(format!("the start-up task failed: {error}")),
        };
        match &startup {
            Startup::Ready { .. } if started.elapsed() >= STARTUP_LOG_FIRST => eprintln!(
                "[evcxr] ready after {:.1} s",
                started.elapsed().as_secs_f64()
            ),
            Startup::Failed(error) => eprintln!("[evcxr] the kernel could not start: {error}"),
            _ => {}
        }
        startup
    }

    /// PATCH(prunelab): gives rust-analyzer's memory back once nothing (a completion, an inspection, a
    /// type rustc could not name) has used it for `ANALYZER_IDLE`, so a kernel is light again a few
    /// minutes after its user last pressed Tab.
    async fn release_idle_analyzer(self, context: Arc<std::sync::Mutex<CommandContext>>) {
        let idle = std::env::var("EVCXR_ANALYZER_IDLE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(ANALYZER_IDLE);
        loop {
            tokio::time::sleep((idle / 4).max(Duration::from_secs(1))).await;
            // A cell or a completion holding the context: try again later.
            let Ok(mut context) = context.try_lock() else {
                continue;
            };
            match context.release_analyzer_if_idle(idle) {
                Ok(true) => eprintln!(
                    "[evcxr] rust-analyzer unused for {} s: its memory was given back",
                    idle.as_secs()
                ),
                Ok(false) => {}
                Err(error) => eprintln!("[evcxr] releasing rust-analyzer failed: {error:#}"),
            }
        }
    }

    /// PATCH(prunelab): the start-up's result once it is there, without waiting.
    fn startup_now(&self) -> Option<Startup> {
        self.startup.borrow().clone()
    }

    /// PATCH(prunelab): waits for the start-up to finish.
    async fn startup_done(&self) -> Startup {
        let mut startup = self.startup.clone();
        match startup.wait_for(Option::is_some).await {
            Ok(done) => done.clone().expect("waited for Some"),
            Err(_) => Startup::Failed("the start-up task ended without a result".to_owned()),
        }
    }

    async fn shutdown_io_thread(&mut self) {
        self.io_thread_shutdown_sender.lock().await.take();
    }

    async fn handle_hb(connection: &mut Connection<zeromq::RepSocket>) -> Result<()> {
        loop {
            match connection.recv().await {
                Ok(_) => {}
                Err(RecvError::ShutdownRequested) => return Ok(()),
                Err(RecvError::Other(e)) => return Err(e),
            }
            connection
                .send(zeromq::ZmqMessage::from(b"ping".to_vec()))
                .await?;
        }
    }

    async fn handle_execution_requests(
        self,
        receiver: &mut tokio::sync::mpsc::UnboundedReceiver<JupyterMessage>,
        execution_reply_sender: &tokio::sync::mpsc::UnboundedSender<ShellReply>,
    ) -> Result<()> {
        // PATCH(prunelab): counted up before each cell, so the first cell is [1].
        let mut execution_count = 0;
        loop {
            let message = match receiver.recv().await {
                Some(x) => x,
                None => {
                    // Other end has closed. This is expected when we're shutting
                    // down.
                    return Ok(());
                }
            };

            // If we want this clone to be cheaper, we probably only need the header, not the
            // whole message.
            *self.latest_execution_request.lock().await = Some(message.clone());
            let src = message.code().to_owned();
            execution_count += 1;
            message
                .new_message("execute_input")
                .with_content(object! {
                    "execution_count" => execution_count,
                    "code" => src
                })
                .send(&mut *self.iopub.lock().await)
                .await?;
            // PATCH(prunelab): the shell answers while this cell runs, so the cell's `idle` status goes
            // out after its reply, from here.
            let idle = message
                .new_message("status")
                .with_content(object! {"execution_state" => "idle"});

            // The cell counts as running from here, so a stop pressed while it waits for the start-up
            // or compiles reaches its code when that starts.
            self.killed_by_interrupt.store(false, Ordering::SeqCst);
            self.running_cell.store(execution_count, Ordering::SeqCst);
            // PATCH(prunelab): a cell sent while the kernel still starts waits for it, and says so.
            let startup = match self.startup_now() {
                Some(startup) => startup,
                None => match tokio::time::timeout(STARTUP_LOG_FIRST, self.startup_done()).await {
                    Ok(startup) => startup,
                    Err(_) => {
                        message
                        .new_message("stream")
                        .with_content(object! {
                            "name" => "stderr",
                            "text" => "The kernel is still starting (the first start in a new build \
                                       folder compiles its crates, which takes minutes); this cell \
                                       runs as soon as it is ready.\n",
                        })
                        .send(&mut *self.iopub.lock().await)
                        .await?;
                        self.startup_done().await
                    }
                },
            };
            let context = match startup {
                Startup::Ready { context, .. } => context,
                Startup::Failed(error) => {
                    let error =
                        evcxr::Error::Message(format!("The kernel could not start: {error}"));
                    self.running_cell.store(0, Ordering::SeqCst);
                    self.emit_errors(&error, &message, message.code(), execution_count)
                        .await?;
                    execution_reply_sender.send((
                        message.new_reply().with_content(object! {
                            "status" => "error",
                            "execution_count" => execution_count
                        }),
                        Some(idle),
                    ))?;
                    continue;
                }
            };
            let server = self.clone();
            let (eval_result, message) = tokio::task::spawn_blocking(move || {
                let eval_result = context.lock().unwrap().execute_with_callbacks(
                    message.code(),
                    &mut evcxr::EvalCallbacks {
                        input_reader: &|input_request| {
                            server.tokio_handle.block_on(async {
                                server
                                    .request_input(
                                        &message,
                                        &input_request.prompt,
                                        input_request.is_password,
                                    )
                                    .await
                                    .unwrap_or_default()
                            })
                        },
                    },
                );
                (eval_result, message)
            })
            .await?;
            self.running_cell.store(0, Ordering::SeqCst);
            // PATCH(prunelab): say why the process ended when the interrupt had to kill it.
            let eval_result = match eval_result {
                Err(evcxr::Error::SubprocessTerminated(_))
                    if self.killed_by_interrupt.swap(false, Ordering::SeqCst) =>
                {
                    Err(evcxr::Error::SubprocessTerminated(format!(
                        "The cell's code did not stop within {} s of the interrupt, so its \
                         process was killed: every variable is lost.",
                        INTERRUPT_GRACE.as_secs()
                    )))
                }
                other => other,
            };
            match eval_result {
                Ok(output) => {
                    if !output.is_empty() {
                        // Increase the odds that stdout will have been finished being sent. A
                        // less hacky alternative would be to add a print statement, then block
                        // waiting for it.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        // PATCH(prunelab): the metadata the code gave for each MIME type (alt
                        // text for an image, say), where it is a JSON object.
                        let mut metadata = serde_json::Map::new();
                        for (k, v) in output.metadata_by_mime_type {
                            if let Ok(value @ Value::Object(_)) = serde_json::from_str(&v) {
                                metadata.insert(k, value);
                            }
                        }
                        let mut data = HashMap::new();
                        for (k, v) in output.content_by_mime_type {
                            if k.contains("json") {
                                data.insert(
                                    k,
                                    serde_json::from_str(&v).unwrap_or_else(|_| Value::from(v)),
                                );
                            } else {
                                data.insert(k, Value::from(v));
                            }
                        }
                        message
                            .new_message("execute_result")
                            .with_content(object! {
                                "execution_count" => execution_count,
                                "data" => data,
                                "metadata" => Value::Object(metadata),
                            })
                            .send(&mut *self.iopub.lock().await)
                            .await?;
                    }
                    if let Some(duration) = output.timing {
                        // TODO replace by duration.as_millis() when stable
                        let ms = duration.as_secs() * 1000 + u64::from(duration.subsec_millis());
                        let mut data: HashMap<String, Value> = HashMap::new();
                        data.insert(
                            "text/html".into(),
                            Value::from(format!(
                                "<span style=\"color: rgba(0,0,0,0.4);\">Took {ms}ms</span>"
                            )),
                        );
                        message
                            .new_message("execute_result")
                            .with_content(object! {
                                "execution_count" => execution_count,
                                "data" => data,
                                "metadata" => object!(),
                            })
                            .send(&mut *self.iopub.lock().await)
                            .await?;
                    }
                    execution_reply_sender.send((
                        message.new_reply().with_content(object! {
                            "status" => "ok",
                            "execution_count" => execution_count,
                        }),
                        Some(idle),
                    ))?;
                }
                Err(errors) => {
                    self.emit_errors(&errors, &message, message.code(), execution_count)
                        .await?;
                    execution_reply_sender.send((
                        message.new_reply().with_content(object! {
                            "status" => "error",
                            "execution_count" => execution_count
                        }),
                        Some(idle),
                    ))?;
                }
            };
        }
    }

    async fn request_input(
        &self,
        current_request: &JupyterMessage,
        prompt: &str,
        password: bool,
    ) -> Option<String> {
        if current_request.get_content()["allow_stdin"].as_bool() != Some(true) {
            return None;
        }
        let mut stdin = self.stdin.lock().await;
        let stdin_request = current_request
            .new_reply()
            .with_message_type("input_request")
            .with_content(object! {
                "prompt" => prompt,
                "password" => password,
            });
        stdin_request.send(&mut *stdin).await.ok()?;

        let input_response = JupyterMessage::read(&mut *stdin).await.ok()?;
        input_response.get_content()["value"]
            .as_str()
            .map(|value| value.to_owned())
    }

    /// PATCH(prunelab): the shell socket is read all the time. A cell runs on the execution task and its
    /// reply comes back here; `kernel_info` and `is_complete` are answered at once, also while a cell
    /// runs or the kernel still starts; completion, inspection and checks run on tasks of their own. (The
    /// loop used to wait for each cell's reply before reading the next request, so a client connecting
    /// during a long cell, or during start-up, saw a kernel that did not answer.) A malformed message is
    /// logged and skipped, as ipykernel does; it used to end this loop, after which the socket was never
    /// read again.
    async fn handle_shell<S: zeromq::Socket + zeromq::SocketRecv + zeromq::SocketSend>(
        self,
        mut connection: Connection<S>,
        execution_channel: &tokio::sync::mpsc::UnboundedSender<JupyterMessage>,
        mut execution_replies: tokio::sync::mpsc::UnboundedReceiver<ShellReply>,
    ) -> Result<()> {
        let (reply_sender, mut replies) = tokio::sync::mpsc::unbounded_channel::<ShellReply>();
        let mut executions_pending = 0usize;
        let mut bad_in_a_row = 0u32;
        loop {
            let message = tokio::select! {
                Some(reply) = execution_replies.recv() => {
                    executions_pending = executions_pending.saturating_sub(1);
                    self.send_shell_reply(reply, &mut connection).await;
                    continue;
                }
                Some(reply) = replies.recv() => {
                    self.send_shell_reply(reply, &mut connection).await;
                    continue;
                }
                read = JupyterMessage::read(&mut connection) => match read {
                    Ok(message) => message,
                    Err(RecvError::ShutdownRequested) => return Ok(()),
                    Err(RecvError::Other(error)) => {
                        bad_in_a_row += 1;
                        if bad_in_a_row > MAX_BAD_MESSAGES_IN_A_ROW {
                            return Err(error);
                        }
                        eprintln!("Skipped a malformed message on the shell channel: {error:#}");
                        continue;
                    }
                },
            };
            bad_in_a_row = 0;
            let message_type = message.message_type().to_owned();
            // Requests answered while a cell runs get no busy/idle of their own: the cell's `idle`,
            // sent when it ends, is the kernel's state.
            let with_status = executions_pending == 0;
            if message_type == "execute_request" {
                executions_pending += 1;
            }
            let r = self
                .handle_shell_message(
                    message,
                    &mut connection,
                    execution_channel,
                    &reply_sender,
                    with_status,
                )
                .await;
            if let Err(error) = r {
                // We see this often after issuing a restart-kernel from the Jupyter UI. Not sure
                // why, but provided we continue to handle subsequent shell requests, things seem to
                // work. So for now, we just print the error and continue.
                eprintln!("Error handling shell message `{message_type}`: {error:#}");
            }
        }
    }

    /// PATCH(prunelab): sends a reply made elsewhere, then its `idle` status.
    async fn send_shell_reply<S: zeromq::SocketSend>(
        &self,
        (reply, idle): ShellReply,
        connection: &mut Connection<S>,
    ) {
        if let Err(error) = reply.send(connection).await {
            eprintln!("Error sending `{}`: {error:#}", reply.message_type());
        }
        if let Some(idle) = idle
            && let Err(error) = idle.send(&mut *self.iopub.lock().await).await
        {
            eprintln!("Error sending status: {error:#}");
        }
    }

    async fn handle_shell_message<S: zeromq::SocketRecv + zeromq::SocketSend>(
        &self,
        message: JupyterMessage,
        connection: &mut Connection<S>,
        execution_channel: &tokio::sync::mpsc::UnboundedSender<JupyterMessage>,
        reply_sender: &tokio::sync::mpsc::UnboundedSender<ShellReply>,
        with_status: bool,
    ) -> Result<()> {
        // Processing of every message should be enclosed between "busy" and "idle"
        // see https://jupyter-client.readthedocs.io/en/latest/messaging.html#messages-on-the-shell-router-dealer-channel
        // Jupiter Lab doesn't use the kernel until it received "idle" for kernel_info_request
        let is_execute = message.message_type() == "execute_request";
        if with_status || is_execute {
            message
                .new_message("status")
                .with_content(object! {"execution_state" => "busy"})
                .send(&mut *self.iopub.lock().await)
                .await?;
        }
        let idle = with_status.then(|| {
            message
                .new_message("status")
                .with_content(object! {"execution_state" => "idle"})
        });
        let context = match self.startup_now() {
            Some(Startup::Ready { context, .. }) => Some(context),
            _ => None,
        };
        // PATCH(prunelab): a reply whose client has gone is logged and the `idle` below still sent: a
        // `busy` without its `idle` left every other client showing a busy kernel.
        if message.message_type() == "kernel_info_request" {
            if let Err(error) = message
                .new_reply()
                .with_content(kernel_info())
                .send(connection)
                .await
            {
                eprintln!("Error sending `kernel_info_reply`: {error:#}");
            }
        } else if message.message_type() == "is_complete_request" {
            if let Err(error) = message
                .new_reply()
                .with_content(object! {"status" => "complete"})
                .send(connection)
                .await
            {
                eprintln!("Error sending `is_complete_reply`: {error:#}");
            }
        } else if is_execute {
            // The execution task sends the reply and the idle status.
            execution_channel.send(message)?;
            return Ok(());
        } else if message.message_type() == "comm_open" {
            match &context {
                Some(context) => comm_open(message, context, Arc::clone(&self.iopub)).await?,
                None => {
                    message
                        .comm_close_message()
                        .send(&mut *self.iopub.lock().await)
                        .await?
                }
            }
        } else if message.message_type() == "comm_msg"
            || message.message_type() == "comm_info_request"
        {
            // We don't handle this yet.
        } else if message.message_type() == "complete_request"
            || message.message_type() == "inspect_request"
        {
            // Answered from a task: the context may be busy with a cell.
            let reply_sender = reply_sender.clone();
            tokio::spawn(async move {
                let result = match context {
                    None => Err(anyhow::anyhow!("the kernel is still starting")),
                    Some(context) if message.message_type() == "complete_request" => {
                        handle_completion_request(&context, message.clone()).await
                    }
                    Some(context) => handle_inspect_request(&context, message.clone()).await,
                };
                let reply = message.new_reply().with_content(match result {
                    Ok(response_content) => response_content,
                    Err(error) => object! {
                        "status" => "error",
                        "ename" => error.to_string(),
                        "evalue" => "",
                    },
                });
                let _ = reply_sender.send((reply, idle));
            });
            return Ok(());
        } else if message.message_type() == "history_request" {
            // We don't yet support history requests, but we don't want to print
            // a message in jupyter console.
        } else {
            eprintln!(
                "Got unrecognized message type on shell channel: {}",
                message.message_type()
            );
        }
        if let Some(idle) = idle {
            idle.send(&mut *self.iopub.lock().await).await?;
        }
        Ok(())
    }

    async fn handle_control(
        mut self,
        mut connection: Connection<zeromq::RouterSocket>,
        group_shutdown: ConnectionShutdownRequester,
    ) -> Result<()> {
        // PATCH(prunelab): a malformed message is logged and skipped (it used to end the kernel).
        let mut bad_in_a_row = 0u32;
        loop {
            let message = match JupyterMessage::read(&mut connection).await {
                Ok(m) => m,
                Err(RecvError::ShutdownRequested) => return Ok(()),
                Err(RecvError::Other(error)) => {
                    bad_in_a_row += 1;
                    if bad_in_a_row > MAX_BAD_MESSAGES_IN_A_ROW {
                        return Err(error);
                    }
                    eprintln!("Skipped a malformed message on the control channel: {error:#}");
                    continue;
                }
            };
            bad_in_a_row = 0;
            match message.message_type() {
                "kernel_info_request" => {
                    // PATCH(prunelab): a reply that cannot be sent (its client closed the connection
                    // before it came: a page that reloaded, a client that timed out) is logged, as the
                    // shell channel does; it used to end this loop, and with it the kernel.
                    if let Err(error) = message
                        .new_reply()
                        .with_content(kernel_info())
                        .send(&mut connection)
                        .await
                    {
                        eprintln!("Error sending `kernel_info_reply` on the control channel: {error:#}");
                    }
                }
                "shutdown_request" => {
                    let is_restart = message.get_content()["restart"].as_bool().unwrap_or(false);
                    let response = object! {
                        "status": "ok",
                        "restart": is_restart,
                    };
                    connection.shutdown_all_connections(group_shutdown).await;
                    self.shutdown_io_thread().await;
                    message
                        .new_reply()
                        .with_content(response)
                        .send(&mut connection)
                        .await?;
                    return Ok(());
                }
                "interrupt_request" => {
                    // PATCH(prunelab): ask the running cell to stop (SIGINT once its code runs) and
                    // kill its process only if the code still runs after a grace period; an idle
                    // kernel keeps its process (and variables).
                    // A cell waiting for the start-up is stopped once the kernel is ready (when
                    // its code starts, as for a cell that is still compiling).
                    let cell = self.running_cell.load(Ordering::SeqCst);
                    if cell != 0 {
                        let server = self.clone();
                        tokio::spawn(async move {
                            let Startup::Ready {
                                process_handle,
                                execution_flag,
                                ..
                            } = server.startup_done().await
                            else {
                                return;
                            };
                            let (running_cell, killed) = (
                                server.running_cell.clone(),
                                server.killed_by_interrupt.clone(),
                            );
                            tokio::task::spawn_blocking(move || {
                                evcxr::interrupt_process(
                                    &process_handle,
                                    &execution_flag,
                                    INTERRUPT_GRACE,
                                    || running_cell.load(Ordering::SeqCst) == cell,
                                    || killed.store(true, Ordering::SeqCst),
                                );
                            });
                        });
                    }

                    // PATCH(prunelab): as for `kernel_info_request` above.
                    if let Err(error) = message
                        .new_reply()
                        .with_content(object! {"status": "ok"})
                        .send(&mut connection)
                        .await
                    {
                        eprintln!("Error sending `interrupt_reply`: {error:#}");
                    }
                }
                _ => {
                    eprintln!(
                        "Got unrecognized message type on control channel: {}",
                        message.message_type()
                    );
                }
            }
        }
    }

    async fn start_output_pass_through_thread(
        self,
        channels: Vec<(&'static str, crossbeam_channel::Receiver<String>)>,
        shutdown_recv: crossbeam_channel::Receiver<()>,
    ) {
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let mut select = Select::new();
            for (_, channel) in &channels {
                select.recv(channel);
            }
            let shutdown_index = select.recv(&shutdown_recv);
            loop {
                let index = select.ready();
                if index == shutdown_index {
                    return;
                }
                let (output_name, channel) = &channels[index];
                // Needed in order to make the borrow checker happy.
                let output_name: &'static str = output_name;
                // Read from the channel that has output until it has been idle
                // for 1ms before we return to checking other channels. This
                // reduces the extent to which outputs interleave. e.g. a
                // multi-line print is performed to stderr, then another to
                // stdout - we can't guarantee the order in which they get sent,
                // but we'd like to try to make sure that we don't interleave
                // their lines if possible.
                loop {
                    match channel.recv_timeout(Duration::from_millis(1)) {
                        Ok(line) => {
                            let server = self.clone();
                            handle.block_on(server.pass_output_line(output_name, line));
                        }
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            }
        });
    }

    async fn pass_output_line(&self, output_name: &'static str, line: String) {
        let mut message = None;
        if let Some(exec_request) = &*self.latest_execution_request.lock().await {
            message = Some(exec_request.new_message("stream"));
        }
        if let Some(message) = message
            && let Err(error) = message
                .with_content(object! {
                    "name" => output_name,
                    // PATCH(prunelab): a piece ended by a carriage return (a progress bar's
                    // redraw) goes out as it is, so the notebook redraws the line in place.
                    "text" => if line.ends_with('\r') { line } else { format!("{line}\n") },
                })
                .send(&mut *self.iopub.lock().await)
                .await
        {
            eprintln!("output {output_name} error: {error}");
        }
    }

    async fn emit_errors(
        &self,
        errors: &evcxr::Error,
        parent_message: &JupyterMessage,
        source: &str,
        execution_count: u32,
    ) -> Result<()> {
        match errors {
            evcxr::Error::CompilationErrors(errors) => {
                for error in errors {
                    let message = format!("{}", error.message().bright_red());
                    if error.is_from_user_code() {
                        let file_name = format!("command_{execution_count}");
                        let mut traceback = Vec::new();
                        if let Some(report) =
                            error.build_report(file_name.clone(), source.to_string(), Theme::Light)
                        {
                            let mut s = Vec::new();
                            report
                                .write(sources([(file_name, source)]), &mut s)
                                .unwrap();
                            let s = String::from_utf8_lossy(&s);
                            traceback = s.lines().map(|x| x.to_string()).collect::<Vec<_>>();
                        } else {
                            for spanned_message in error.spanned_messages() {
                                for line in &spanned_message.lines {
                                    traceback.push(line.clone());
                                }
                                if let Some(span) = &spanned_message.span {
                                    let mut carrots = String::new();
                                    for _ in 1..span.start_column {
                                        carrots.push(' ');
                                    }
                                    for _ in span.start_column..span.end_column {
                                        carrots.push('^');
                                    }
                                    traceback.push(format!(
                                        "{} {}",
                                        carrots.bright_red(),
                                        spanned_message.label.bright_blue()
                                    ));
                                } else {
                                    traceback.push(spanned_message.label.clone());
                                }
                            }
                            traceback.push(error.message());
                            for help in error.help() {
                                traceback.push(format!("{}: {}", "help".bold(), help));
                            }
                        }
                        parent_message
                            .new_message("error")
                            .with_content(object! {
                                "ename" => "Error",
                                "evalue" => error.message(),
                                "traceback" => traceback,
                            })
                            .send(&mut *self.iopub.lock().await)
                            .await?;
                    } else {
                        parent_message
                            .new_message("error")
                            .with_content(object! {
                                "ename" => "Error",
                                "evalue" => error.message(),
                                "traceback" => array![
                                    message
                                ],
                            })
                            .send(&mut *self.iopub.lock().await)
                            .await?;
                    }
                }
            }
            error => {
                let displayed_error = format!("{error}");
                parent_message
                    .new_message("error")
                    .with_content(object! {
                        "ename" => "Error",
                        "evalue" => displayed_error.clone(),
                        "traceback" => array![displayed_error],
                    })
                    .send(&mut *self.iopub.lock().await)
                    .await?;
            }
        }
        Ok(())
    }
}

async fn comm_open(
    message: JupyterMessage,
    context: &Arc<std::sync::Mutex<CommandContext>>,
    iopub: Arc<Mutex<Connection<zeromq::PubSocket>>>,
) -> Result<()> {
    if message.target_name() == "evcxr-cargo-check" {
        let context = Arc::clone(context);
        tokio::spawn(async move {
            if let Some(code) = message.data()["code"].as_str() {
                let data = cargo_check(code.to_owned(), context).await;
                let response_content = object! {
                    "comm_id" => message.comm_id(),
                    "data" => data,
                };
                message
                    .new_message("comm_msg")
                    .without_parent_header()
                    .with_content(response_content)
                    .send(&mut *iopub.lock().await)
                    .await
                    .unwrap();
            }
            message
                .comm_close_message()
                .send(&mut *iopub.lock().await)
                .await
                .unwrap();
        });
        Ok(())
    } else {
        // Unrecognised comm target, just close the comm.
        message
            .comm_close_message()
            .send(&mut *iopub.lock().await)
            .await
    }
}

async fn cargo_check(code: String, context: Arc<std::sync::Mutex<CommandContext>>) -> Value {
    let problems = tokio::task::spawn_blocking(move || {
        context.lock().unwrap().check(&code).unwrap_or_default()
    })
    .await
    .unwrap_or_default();
    let problems_json: Vec<Value> = problems
        .iter()
        .filter_map(|problem| {
            if let Some(primary_spanned_message) = problem.primary_spanned_message()
                && let Some(span) = primary_spanned_message.span
            {
                use std::fmt::Write;
                let mut message = primary_spanned_message.label.clone();
                if !message.is_empty() {
                    message.push('\n');
                }
                message.push_str(&problem.message());
                for help in problem.help() {
                    write!(message, "\nhelp: {help}").unwrap();
                }
                return Some(object! {
                    "message" => message,
                    "severity" => problem.level(),
                    "start_line" => span.start_line,
                    "start_column" => span.start_column,
                    "end_column" => span.end_column,
                    "end_line" => span.end_line,
                });
            }
            None
        })
        .collect();
    object! {
        "problems" => problems_json,
    }
}

async fn bind_socket<S: zeromq::Socket>(
    config: &control_file::Control,
    port: u16,
    group: Option<ConnectionGroup>,
) -> Result<Connection<S>> {
    let endpoint = format!("{}://{}:{}", config.transport, config.ip, port);
    let mut socket = S::new();
    socket.bind(&endpoint).await?;
    Connection::new(socket, &config.key, group)
}

/// See [Kernel info documentation](https://jupyter-client.readthedocs.io/en/stable/messaging.html#kernel-info)
/// PATCH(prunelab): the version of the rustc that compiles cells (`RUSTC`, else `rustc` on the `PATH`), as
/// `rustc --version` prints it (`1.92.0`); empty where it cannot be run. Asked once, then remembered.
fn rustc_version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        std::process::Command::new(rustc)
            .arg("--version")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.split_whitespace().nth(1).map(str::to_owned))
            .unwrap_or_default()
    })
}

/// PATCH(prunelab): the `language_info` of the `kernel_info` reply, public so that a tool writing notebooks for
/// this kernel (a headless runner) writes the same.
pub fn language_info() -> Value {
    object!{
        // PATCH(prunelab): the names nbformat and Jupyter's own kernels use: `name` lower-case (it
        // becomes the language of Markdown code fences) and the key `pygments_lexer` (was
        // `pygment_lexer`, which no tool reads).
        "name" => "rust",
        // PATCH(prunelab): the version of the rustc that compiles the cells, as Jupyter's own
        // kernels give their language's (was always empty).
        "version" => rustc_version(),
        "mimetype" => "text/rust",
        "file_extension" => ".rs",
        // Pygments lexer, for highlighting Only needed if it differs from the 'name' field.
        // see http://pygments.org/docs/lexers/#lexers-for-the-rust-language
        "pygments_lexer" => "rust",
        // Codemirror mode, for for highlighting in the notebook. Only needed if it differs from the 'name' field.
        // codemirror use text/x-rustsrc as mimetypes
        // see https://codemirror.net/mode/rust/
        "codemirror_mode" => "rust",
    }
}

fn kernel_info() -> Value {
    object! {
        "protocol_version" => "5.3",
        "implementation" => env!("CARGO_PKG_NAME"),
        "implementation_version" => env!("CARGO_PKG_VERSION"),
        "language_info" => language_info(),
        "banner" => format!("EvCxR {} - Evaluation Context for Rust", env!("CARGO_PKG_VERSION")),
        "help_links" => array![
            object!{"text" => "Rust std docs",
                    "url" => "https://doc.rust-lang.org/stable/std/"}
        ],
        "status" => "ok"
    }
}

async fn handle_completion_request(
    context: &Arc<std::sync::Mutex<CommandContext>>,
    message: JupyterMessage,
) -> Result<Value> {
    let context = Arc::clone(context);
    tokio::task::spawn_blocking(move || {
        let code = message.code();
        let completions = context.lock().unwrap().completions(
            code,
            grapheme_offset_to_byte_offset(code, message.cursor_pos()),
        )?;
        let cursor_start = byte_offset_to_grapheme_offset(code, completions.start_offset)?;
        let cursor_end = byte_offset_to_grapheme_offset(code, completions.end_offset)?;
        let mut matches: Vec<String> = Vec::new();
        let mut type_metadata: Vec<Value> = Vec::new();
        for c in &completions.completions {
            matches.push(c.code.clone());
            type_metadata.push(object! {
                "text"  => c.label.clone(),
                "type"  => c.kind,
                "start" => cursor_start,
                "end"   => cursor_end,
            });
        }
        Ok(object! {
            "status" => "ok",
            "matches" => matches,
            "cursor_start" => cursor_start,
            "cursor_end" => cursor_end,
            "metadata" => object! {
                "_jupyter_types_experimental" => type_metadata,
            },
        })
    })
    .await?
}

async fn handle_inspect_request(
    context: &Arc<std::sync::Mutex<CommandContext>>,
    message: JupyterMessage,
) -> Result<Value> {
    let context = Arc::clone(context);
    tokio::task::spawn_blocking(move || {
        let code = message.code();
        let position = grapheme_offset_to_byte_offset(code, message.cursor_pos());
        // hover_at returns Ok("No documentation found", ...) for unresolvable
        // symbols rather than Err; treat that as found:false per Jupyter spec.
        match context.lock().unwrap().hover_at(code, position) {
            Ok((plain, _)) if plain == "No documentation found" => Ok(object! {
                "status"   => "ok",
                "found"    => false,
                "data"     => object!{},
                "metadata" => object!{},
            }),
            Ok((plain, html)) => Ok(object! {
                "status"   => "ok",
                "found"    => true,
                "data"     => object! {
                    "text/plain" => plain,
                    "text/html"  => html,
                },
                "metadata" => object!{},
            }),
            Err(_) => Ok(object! {
                "status"   => "ok",
                "found"    => false,
                "data"     => object!{},
                "metadata" => object!{},
            }),
        }
    })
    .await?
}

/// Returns the byte offset for the start of the specified grapheme. Any grapheme beyond the last
/// grapheme will return the end position of the input.
fn grapheme_offset_to_byte_offset(code: &str, grapheme_offset: usize) -> usize {
    unicode_segmentation::UnicodeSegmentation::grapheme_indices(code, true)
        .nth(grapheme_offset)
        .map(|(byte_offset, _)| byte_offset)
        .unwrap_or_else(|| code.len())
}

/// Returns the grapheme offset of the grapheme that starts at
fn byte_offset_to_grapheme_offset(code: &str, target_byte_offset: usize) -> Result<usize> {
    let mut grapheme_offset = 0;
    for (byte_offset, _) in unicode_segmentation::UnicodeSegmentation::grapheme_indices(code, true)
    {
        if byte_offset == target_byte_offset {
            break;
        }
        if byte_offset > target_byte_offset {
            bail!(
                "Byte offset {} is not on a grapheme boundary in '{}'",
                target_byte_offset,
                code
            );
        }
        grapheme_offset += 1;
    }
    Ok(grapheme_offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grapheme_offsets() {
        let src = "a̐éx";
        assert_eq!(grapheme_offset_to_byte_offset(src, 0), 0);
        assert_eq!(grapheme_offset_to_byte_offset(src, 1), 3);
        assert_eq!(grapheme_offset_to_byte_offset(src, 2), 6);
        assert_eq!(grapheme_offset_to_byte_offset(src, 3), 7);

        assert_eq!(byte_offset_to_grapheme_offset(src, 0).unwrap(), 0);
        assert_eq!(byte_offset_to_grapheme_offset(src, 3).unwrap(), 1);
        assert_eq!(byte_offset_to_grapheme_offset(src, 6).unwrap(), 2);
        assert_eq!(byte_offset_to_grapheme_offset(src, 7).unwrap(), 3);
    }
}
