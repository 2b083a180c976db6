//! The functions `serve` runs on this host, declared at start (`--function NAME=COMMAND`
//! or a functions file), and how a mapping reaches its function: a local one by name,
//! anything else through AWS Lambda (or `--lambda-endpoint-url`), as `kafka-esm run`.
//!
//! Also the API's view of the local functions: `ListFunctions` and `GetFunction` bodies.

use crate::aws::{AwsOptions, sdk_config};
use crate::config::Mapping;
use crate::invoke::lambda::LambdaInvoker;
use crate::invoke::local::{LocalError, LocalFunction, LocalInvoker};
use crate::invoke::{Invocation, InvokeError, Invoker};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why the functions could not be declared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FunctionsError {
    #[error("--function {0}: expected NAME=COMMAND")]
    Flag(String),
    #[error("the functions file {path}: {message}")]
    File { path: String, message: String },
    #[error("function {name}: {source}")]
    Function { name: String, source: LocalError },
    #[error("function {0} is declared twice")]
    Duplicate(String),
}

/// One function of a functions file (JSON), named as Lambda's `CreateFunction` names
/// its settings.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct FileFunction {
    function_name: String,
    /// The command line, run with `sh -c`.
    command: String,
    /// Seconds, 1..=840.
    timeout: Option<u64>,
    memory_size: Option<u32>,
    /// Processes at once, 1..=1000.
    concurrency: Option<u32>,
    environment: Option<FileEnvironment>,
    working_directory: Option<std::path::PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct FileEnvironment {
    variables: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct FunctionsFile {
    functions: Vec<FileFunction>,
}

/// Reads `--function NAME=COMMAND` flags and a functions file into function
/// declarations, in `region`.
pub fn declare(
    flags: &[String],
    file: Option<&Path>,
    region: &str,
) -> Result<Vec<LocalFunction>, FunctionsError> {
    let mut out: Vec<LocalFunction> = Vec::new();
    for flag in flags {
        let Some((name, command)) = flag
            .split_once('=')
            .filter(|(n, c)| !n.is_empty() && !c.is_empty())
        else {
            return Err(FunctionsError::Flag(flag.clone()));
        };
        out.push(LocalFunction::shell(name, command));
    }
    if let Some(path) = file {
        let err = |message: String| FunctionsError::File {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let parsed: FunctionsFile = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        for f in parsed.functions {
            let mut function = LocalFunction::shell(f.function_name, &f.command);
            if let Some(t) = f.timeout {
                function.timeout = Duration::from_secs(t);
            }
            if let Some(m) = f.memory_size {
                function.memory_mb = m;
            }
            if let Some(c) = f.concurrency {
                function.concurrency = c;
            }
            if let Some(env) = f.environment {
                function.env = env
                    .variables
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect();
            }
            function.working_dir = f.working_directory;
            out.push(function);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for f in &mut out {
        if !seen.insert(f.name.clone()) {
            return Err(FunctionsError::Duplicate(f.name.clone()));
        }
        f.region = region.to_string();
    }
    Ok(out)
}

/// The local functions, started (each serves its Runtime API), by name.
#[derive(Clone, Default)]
pub struct Functions {
    local: Arc<HashMap<String, Arc<LocalInvoker>>>,
    /// The settings of the AWS Lambda client for every other function.
    lambda: AwsOptions,
}

impl Functions {
    pub fn new(
        declared: Vec<LocalFunction>,
        lambda: AwsOptions,
    ) -> Result<Functions, FunctionsError> {
        let mut local = HashMap::new();
        for function in declared {
            let name = function.name.clone();
            let invoker =
                LocalInvoker::new(function).map_err(|source| FunctionsError::Function {
                    name: name.clone(),
                    source,
                })?;
            local.insert(name, Arc::new(invoker));
        }
        Ok(Functions {
            local: Arc::new(local),
            lambda,
        })
    }

    /// Every local function, by name.
    pub fn local(&self) -> impl Iterator<Item = &Arc<LocalInvoker>> {
        self.local.values()
    }

    /// The local function a mapping's `FunctionName` names, if any: by name, or an ARN
    /// whose name is a local function's, unqualified or `$LATEST`.
    pub fn local_for(&self, mapping: &Mapping) -> Option<&Arc<LocalInvoker>> {
        match mapping.function.qualifier.as_deref() {
            None | Some("$LATEST") => self.local.get(&mapping.function.name),
            Some(_) => None,
        }
    }

    /// How `mapping` invokes its function.
    pub async fn invoker_for(&self, mapping: &Mapping) -> MappingInvoker {
        if let Some(local) = self.local_for(mapping) {
            return MappingInvoker::Local(local.clone());
        }
        let config = sdk_config(&AwsOptions {
            region: mapping
                .esm
                .region
                .clone()
                .or_else(|| mapping.function.region.clone())
                .or_else(|| self.lambda.region.clone()),
            endpoint_url: mapping
                .esm
                .lambda_endpoint_url
                .clone()
                .or_else(|| self.lambda.endpoint_url.clone()),
            credentials: self.lambda.credentials.clone(),
            // The engine retries, with AWS's accounting; the SDK must not.
            max_attempts: Some(1),
            timeouts: crate::invoke::lambda::timeouts(mapping.esm.function_timeout),
        })
        .await;
        MappingInvoker::Lambda(LambdaInvoker::new(
            aws_sdk_lambda::Client::new(&config),
            mapping.function.raw.clone(),
            None,
        ))
    }
}

/// A mapping's function: local, or on AWS Lambda.
pub enum MappingInvoker {
    Local(Arc<LocalInvoker>),
    Lambda(LambdaInvoker),
}

impl Invoker for MappingInvoker {
    async fn invoke(&self, payload: Bytes) -> Result<Invocation, InvokeError> {
        match self {
            MappingInvoker::Local(local) => local.invoke(payload).await,
            MappingInvoker::Lambda(lambda) => lambda.invoke(payload).await,
        }
    }

    async fn check(&self) -> Result<(), InvokeError> {
        match self {
            MappingInvoker::Local(local) => local.check().await,
            MappingInvoker::Lambda(lambda) => lambda.check().await,
        }
    }
}

/// Lambda's `FunctionConfiguration` for a local function.
pub fn configuration(function: &LocalFunction, account: &str) -> Value {
    let variables: BTreeMap<String, String> = function
        .env
        .iter()
        .map(|(k, v)| (k.to_string_lossy().into(), v.to_string_lossy().into()))
        .collect();
    json!({
        "FunctionName": function.name,
        "FunctionArn": format!(
            "arn:aws:lambda:{}:{account}:function:{}", function.region, function.name
        ),
        "Runtime": "provided.al2023",
        "Role": format!("arn:aws:iam::{account}:role/kafka-esm-local-function"),
        "Handler": function.handler.clone().unwrap_or_default(),
        "CodeSize": 0,
        "Description": "a local function run by kafka-esm serve",
        "Timeout": function.timeout.as_secs(),
        "MemorySize": function.memory_mb,
        "Version": "$LATEST",
        "Environment": { "Variables": variables },
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_a_file_declare_functions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("functions.json");
        std::fs::write(
            &path,
            r#"{"Functions": [{"FunctionName": "b", "Command": "python3 b.py", "Timeout": 30,
                "Concurrency": 2, "Environment": {"Variables": {"K": "V"}}}]}"#,
        )
        .unwrap();
        let declared = declare(&["a=./handler --x".into()], Some(&path), "eu-west-1").unwrap();
        assert_eq!(declared.len(), 2);
        assert_eq!(declared[0].name, "a");
        assert_eq!(declared[0].args[1], "exec ./handler --x");
        assert_eq!(declared[1].timeout, Duration::from_secs(30));
        assert_eq!(declared[1].concurrency, 2);
        assert_eq!(declared[1].env, vec![("K".into(), "V".into())]);
        assert!(declared.iter().all(|f| f.region == "eu-west-1"));
    }

    #[test]
    fn bad_declarations_name_what_is_wrong() {
        let e = declare(&["nocommand".into()], None, "us-east-1").unwrap_err();
        assert!(e.to_string().contains("NAME=COMMAND"), "{e}");
        let e = declare(&["a=x".into(), "a=y".into()], None, "us-east-1").unwrap_err();
        assert!(e.to_string().contains("declared twice"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        std::fs::write(
            &path,
            r#"{"Functions": [{"FunctionName": "a", "Cmd": "x"}]}"#,
        )
        .unwrap();
        let e = declare(&[], Some(&path), "us-east-1").unwrap_err();
        assert!(e.to_string().contains("Cmd"), "{e}");
    }
}
