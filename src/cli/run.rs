//! `kafka-esm run`: resolve the mapping, build the invoker, run until Ctrl-C or SIGTERM.
//!
//! Exit codes: 0 after a clean stop, 2 when the configuration is refused (nothing
//! started), 1 when the mapping stopped on an error. Each error is printed with the
//! documented reason a mapping reports.

use kafka_esm::aws::{AwsOptions, sdk_config};
use kafka_esm::config::{Mapping, MappingArgs};
use kafka_esm::invoke::lambda::LambdaInvoker;
use kafka_esm::runtime;
use std::process::ExitCode;

pub fn run(args: MappingArgs) -> ExitCode {
    let mapping = match args.resolve() {
        Ok(m) => m,
        Err(errors) => {
            eprintln!("kafka-esm run: {errors}");
            return ExitCode::from(2);
        }
    };
    for w in &mapping.warnings {
        tracing::warn!("{w}");
    }
    if mapping.esm.function_command.is_some() {
        eprintln!(
            "kafka-esm run: ESM_CONFIG_NOT_VALID: local functions (FunctionCommand) are not \
             supported yet; invoke AWS Lambda or a Lambda-compatible endpoint"
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kafka-esm run: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let invoker = lambda_invoker(&mapping).await;
        match runtime::run(&mapping, invoker, shutdown_signal()).await {
            Ok(stats) => {
                tracing::info!(?stats, "mapping stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kafka-esm run: {}: {e}", e.reason());
                if matches!(e, runtime::RuntimeError::Unsupported { .. }) {
                    ExitCode::from(2)
                } else {
                    ExitCode::FAILURE
                }
            }
        }
    })
}

async fn lambda_invoker(mapping: &Mapping) -> LambdaInvoker {
    let config = sdk_config(&AwsOptions {
        region: mapping
            .esm
            .region
            .clone()
            .or_else(|| mapping.function.region.clone()),
        endpoint_url: mapping.esm.lambda_endpoint_url.clone(),
        credentials: None,
        // The engine retries, with AWS's accounting; the SDK must not.
        max_attempts: Some(1),
    })
    .await;
    LambdaInvoker::new(
        aws_sdk_lambda::Client::new(&config),
        mapping.function.raw.clone(),
        None,
    )
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
