// Copyright 2020 The Evcxr Authors.
//
// Licensed under the Apache License, Version 2.0 <LICENSE or
// https://www.apache.org/licenses/LICENSE-2.0> or the MIT license <LICENSE
// or https://opensource.org/licenses/MIT>, at your option. This file may not be
// copied, modified, or distributed except according to those terms.

macro_rules! object {
    () => {
        serde_json::json!({})
    };
    ($($key:tt => $value:expr),* $(,)?) => {
        serde_json::json!({$($key: $value),*})
    };
    ($($key:tt : $value:expr),* $(,)?) => {
        serde_json::json!({$($key: $value),*})
    };
}

macro_rules! array {
    ($($value:expr),* $(,)?) => {
        serde_json::json!([$($value),*])
    };
}

use anyhow::Result;
use anyhow::anyhow;
use anyhow::bail;

mod connection;
mod control_file;
mod core;
mod install;
mod jupyter_message;

pub use crate::core::language_info;

fn run(control_file_name: &str) -> Result<()> {
    let config = control_file::Control::parse_file(control_file_name)?;
    core::Server::run(&config)
}

/// PATCH(prunelab): sets a function that turns an error of the kernel's start-up (its configuration's
/// `:dep`s failing to build, say) into advice, shown on the log and in the cells sent meanwhile. The kernel
/// starts in the background and keeps answering when start-up fails, so the embedding binary no longer sees
/// that error returned from `main`. Only the first call has an effect.
pub fn set_start_error_hint(hint: fn(&str) -> Option<String>) {
    let _ = core::START_ERROR_HINT.set(hint);
}

pub fn main() -> Result<()> {
    evcxr::runtime_hook();
    let mut args = std::env::args();
    let bin = args.next().unwrap();
    if let Some(arg) = args.next() {
        match arg.as_str() {
            "--control_file" => {
                if let Err(error) = install::update_if_necessary() {
                    eprintln!("Warning: tried to update client, but failed: {error}");
                }
                return run(&args.next().ok_or_else(|| anyhow!("Missing control file"))?);
            }
            "--install" => return install::install(),
            "--uninstall" => return install::uninstall(),
            "--help" => {}
            x => bail!("Unrecognised option {}", x),
        }
    }
    println!("To install, run:\n  {bin} --install");
    println!("To uninstall, run:\n  {bin} --uninstall");
    Ok(())
}

#[cfg(feature = "mimalloc")]
#[global_allocator]
static MIMALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
