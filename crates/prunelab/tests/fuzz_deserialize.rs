//! Fuzzing every public type that implements `Deserialize` (issue class 5: public types deserialised from
//! hostile input): mutated JSON of valid values (numbers replaced by hostile ones, bytes set, flipped,
//! inserted, removed), arbitrary JSON built from the types' own field names, and mutated postcard for the
//! network types. Each case runs under a counting allocator: no panic, no abort, and no case allocates more
//! than a bound proportional to the bytes it was given (a single request above 1 GiB is refused outright,
//! which aborts this test binary). What loads must be usable: a sparse network runs a forward pass.
//!
//! Types whose fields are all public (every type here but `Csr`, `SparseMlp` and `Mlp`) hold no invariant a
//! struct literal could not break as well, so loading them only has to be safe; `Csr` and `SparseMlp` load
//! through checked constructors (`Mlp` through its file form, fuzzed in `fuzz_files.rs`).
//!
//! `PRUNELAB_FUZZ_CASES=N` runs N cases per target instead of the default.

use ndarray::Array2;
use proptest::prelude::*;
use prunelab::nn::{Csr, Kernel, SparseMlp, FREE_WEIGHTS};
use prunelab::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

mod counting;
use counting::{cases, peak_of};

/// The most any case may allocate at once for `len` input bytes: the parsed values (a few bytes of output
/// per byte of JSON, doubled by vector growth), a CSR matrix's column-blocked copy (the shape a matrix may
/// claim is backed by what it holds: `FREE_WEIGHTS` plus 1024 weights per stored value, four bytes per 256
/// of them), and slack.
fn bound(len: usize) -> usize {
    64 * len + 4 * (FREE_WEIGHTS + 1024 * len) / 256 + (2 << 20)
}

// ---------------------------------------------------------------- the issue's reproducers

#[test]
fn a_csr_claiming_2_pow_64_rows_is_an_error_not_a_panic() {
    // Used to panic: `indptr.len() != rows + 1` overflowed (and in release wrapped to 0, then indexed an
    // empty `indptr`).
    let json = format!(
        r#"{{"rows":{},"cols":1,"indptr":[],"indices":[],"values":[]}}"#,
        u64::MAX
    );
    assert!(json.len() <= 80, "{}", json.len());
    let (result, peak) = peak_of(|| serde_json::from_str::<Csr>(&json));
    let err = result.unwrap_err().to_string();
    assert!(err.contains("row offsets") || err.contains("back"), "{err}");
    assert!(peak < 1 << 20, "{peak}");
    assert!(Csr::new(usize::MAX, 1, vec![], vec![], vec![]).is_err());
}

#[test]
fn a_csr_claiming_a_huge_shape_with_no_entries_is_an_error_not_an_allocation() {
    // 1000 x 4294967295 with no entries: used to abort on a 67 GB allocation (the column-blocked copy's row
    // pointers, 4 bytes x 1000 rows x 2^24 blocks).
    let json = format!(
        r#"{{"rows":1000,"cols":{},"indptr":[{}],"indices":[],"values":[]}}"#,
        u32::MAX,
        vec!["0"; 1001].join(",")
    );
    assert!(json.len() < 2100, "{}", json.len());
    let (result, peak) = peak_of(|| serde_json::from_str::<Csr>(&json));
    let err = result.unwrap_err().to_string();
    assert!(err.contains("back"), "{err}");
    assert!(peak < 1 << 20, "{peak}");
    // The same matrix built in code is refused by the memory check, or built within it.
    let (built, _) = peak_of(|| Csr::new(1000, u32::MAX as usize, vec![0; 1001], vec![], vec![]));
    if let Err(e) = built {
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    }
    // Inside a sparse network too.
    let mut model = Mlp::config(&[4, 3]).seed(0).build().unwrap();
    prune_to_sparsity(&mut model, 0.9, Scope::Layerwise, &[]).unwrap();
    let net = serde_json::to_string(&model.to_sparse_with_crossover(1.0, 1.0).unwrap()).unwrap();
    let hostile = net
        .replacen("\"n_inputs\":4", &format!("\"n_inputs\":{}", u32::MAX), 1)
        .replacen("\"cols\":4", &format!("\"cols\":{}", u32::MAX), 1);
    assert_ne!(hostile, net);
    let (result, peak) = peak_of(|| serde_json::from_str::<SparseMlp>(&hostile));
    assert!(result.is_err());
    assert!(peak < 1 << 20, "{peak}");
}

// ---------------------------------------------------------------- seeds

/// Sparse networks of every kernel kind: CSR, dense, both (switching with the batch), densely connected.
fn seed_sparse() -> Vec<SparseMlp> {
    let mut model = Mlp::config(&[5, 8, 6, 3]).seed(1).build().unwrap();
    prune_to_sparsity(&mut model, 0.7, Scope::Layerwise, &[]).unwrap();
    let mut dc = Mlp::config(&[2, 4, 2])
        .topology(Topology::DenselyConnected)
        .bias(false)
        .seed(2)
        .build()
        .unwrap();
    prune_to_sparsity(&mut dc, 0.5, Scope::Global, &[]).unwrap();
    vec![
        model.to_sparse_with_crossover(1.0, 1.0).unwrap(),
        model.to_sparse_with_crossover(0.0, 0.0).unwrap(),
        model.to_sparse_with_crossover(1.0, 0.0).unwrap(),
        model.to_sparse_with_crossover(0.0, 1.0).unwrap(),
        dc.to_sparse_with_crossover(1.0, 1.0).unwrap(),
    ]
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

/// A target: a public `Deserialize` type, valid JSON values of it, and what loading (and using) text does.
struct Target {
    name: &'static str,
    seeds: Vec<String>,
    load: fn(&[u8]) -> bool,
}

fn load<T: DeserializeOwned>(bytes: &[u8]) -> bool {
    serde_json::from_slice::<T>(bytes).is_ok()
}

/// What a loaded sparse network is checked for: a forward pass of a few and of many samples runs.
fn use_sparse(net: &SparseMlp) {
    let inputs = match &net.layers()[0].kernel {
        Kernel::Dense(w) | Kernel::BySamples { dense: w, .. } => w.ncols(),
        Kernel::Sparse(c) => c.cols(),
    };
    if inputs <= 4096 {
        for n in [1, 5, 40] {
            let _ = net.forward(&Array2::<f32>::zeros((n, inputs)));
        }
    }
}

fn load_sparse(bytes: &[u8]) -> bool {
    serde_json::from_slice::<SparseMlp>(bytes).is_ok()
}

fn load_csr(bytes: &[u8]) -> bool {
    match serde_json::from_slice::<Csr>(bytes) {
        Ok(c) => {
            // The parts a loaded matrix hands out agree with each other.
            assert_eq!(c.indptr().len(), c.rows() + 1);
            assert_eq!(c.indptr()[c.rows()], c.nnz());
            assert!(c.indices().iter().all(|&i| (i as usize) < c.cols()));
            true
        }
        Err(_) => false,
    }
}

macro_rules! target {
    ($t:ty, $seeds:expr) => {
        Target {
            name: stringify!($t),
            seeds: $seeds,
            load: load::<$t>,
        }
    };
}

fn targets() -> Vec<Target> {
    use prunelab::nn::{Kernel, LayerReport, PruneReport, SparseLayer};
    use prunelab::prune::{Amount, GradualPruning, Norm, ThresholdPruning, UnitScore, WeightScore};
    use prunelab::study::{PruningHistory, PruningRound, Rewind, SweepRow, SweepTable};
    use prunelab::sweep::*;
    use prunelab::train::{BatchSize, EarlyStopping, History, Progress};
    let sparse = seed_sparse();
    let mut model = Mlp::config(&[3, 4, 2]).seed(5).build().unwrap();
    prune_to_sparsity(&mut model, 0.5, Scope::Layerwise, &[]).unwrap();
    let iris = data::iris();
    let small = iris.select(&[0, 60, 120]).unwrap();
    let spec = SweepSpec::from_toml(
        "name = \"t\"\nseeds = [0, 1]\n[data]\ndataset = \"iris\"\n[network]\nhidden = [4]\n\
         [train]\nlr = 0.01\nepochs = 1\n[experiment]\nkind = \"sparsity\"\n\
         methods = [\"weights\", \"units\"]\nsparsities = [0.5]\n",
    )
    .unwrap();
    let params = TrainParams::new(Loss::CrossEntropy, Adam::new(0.01))
        .early_stopping(3, 0.01)
        .gradual(GradualPruning::constant(0.5, 0, 2, 1));
    vec![
        Target {
            name: "Csr",
            seeds: sparse
                .iter()
                .flat_map(|s| s.layers().iter())
                .filter_map(|l| match &l.kernel {
                    Kernel::Sparse(c) | Kernel::BySamples { sparse: c, .. } => Some(json(c)),
                    Kernel::Dense(_) => None,
                })
                .collect(),
            load: load_csr,
        },
        Target {
            name: "SparseMlp",
            seeds: sparse.iter().map(json).collect(),
            load: load_sparse,
        },
        target!(
            SparseLayer,
            sparse.iter().map(|s| json(&s.layers()[0])).collect()
        ),
        target!(
            Kernel,
            sparse.iter().map(|s| json(&s.layers()[1].kernel)).collect()
        ),
        target!(Sgd, vec![json(&Sgd::new(0.1).momentum(0.9))]),
        target!(Adam, vec![json(&Adam::new(0.01))]),
        target!(
            Optimizer,
            vec![
                json(&Optimizer::from(Adam::new(0.01))),
                json(&Optimizer::from(Sgd::new(0.1)))
            ]
        ),
        target!(TrainParams, vec![json(&params)]),
        target!(
            EarlyStopping,
            vec![json(&EarlyStopping {
                patience: 3,
                min_delta: 0.1
            })]
        ),
        target!(
            BatchSize,
            vec![json(&BatchSize::Size(3)), json(&BatchSize::Full)]
        ),
        target!(Progress, vec![json(&Progress::default())]),
        target!(History, vec![]),
        target!(
            Dataset,
            vec![
                json(&small),
                json(&data::cos_sin(4).unwrap().select(&[0, 1]).unwrap())
            ]
        ),
        target!(Targets, vec![json(&small.targets)]),
        target!(
            Standardizer,
            vec![json(&Standardizer::fit(&small).unwrap())]
        ),
        target!(MlpConfig, vec![json(&Mlp::config(&[3, 4, 2]).seed(1))]),
        target!(NetworkGraph, vec![json(&model.graph())]),
        target!(Edge, vec![]),
        target!(prunelab::graph::Node, vec![]),
        target!(PruneReport, vec![json(&model.prune_report())]),
        target!(LayerReport, vec![]),
        target!(Activation, vec![json(&Activation::Relu)]),
        target!(Topology, vec![json(&Topology::DenselyConnected)]),
        target!(Init, vec![json(&Init::default())]),
        target!(Loss, vec![json(&Loss::CrossEntropy)]),
        target!(Metric, vec![json(&Metric::Accuracy)]),
        target!(metrics::PrecisionRecall, vec![]),
        target!(WeightPruning, vec![json(&WeightPruning::magnitude(0.5))]),
        target!(
            ThresholdPruning,
            vec![json(&ThresholdPruning::new(0.1).inclusive())]
        ),
        target!(UnitPruning, vec![json(&UnitPruning::l1(0.5))]),
        target!(
            GradualPruning,
            vec![json(&GradualPruning::constant(0.5, 0, 2, 1))]
        ),
        target!(Amount, vec![]),
        target!(Scope, vec![json(&Scope::Global)]),
        target!(WeightScore, vec![]),
        target!(UnitScore, vec![]),
        target!(Norm, vec![json(&Norm::L1)]),
        target!(PruningRound, vec![]),
        target!(PruningHistory, vec![]),
        target!(Rewind, vec![]),
        target!(SweepRow, vec![]),
        target!(SweepTable, vec![]),
        target!(
            ThresholdSweep,
            vec![json(&ThresholdSweep::new(vec![0.0, 0.1]))]
        ),
        target!(
            SparsitySweep,
            vec![json(&SparsitySweep::new(vec![0.0, 0.5]))]
        ),
        target!(ThresholdSweepResult, vec![]),
        target!(SweepPoint, vec![]),
        target!(SweepMethod, vec![]),
        target!(SweepSpec, vec![json(&spec)]),
        target!(DataSpec, vec![json(&spec.data)]),
        target!(NetworkSpec, vec![json(&spec.network)]),
        target!(TrainSpec, vec![json(&spec.train)]),
        target!(ExperimentSpec, vec![json(&spec.experiment)]),
        target!(
            Normalize,
            vec![json(&Normalize {
                mean: 0.5,
                std: 0.5
            })]
        ),
        target!(BatchSpec, vec![json(&BatchSpec::Size(3))]),
        target!(
            ThresholdRange,
            vec![json(&ThresholdRange {
                start: 0.0,
                stop: 1.0,
                count: 3
            })]
        ),
        target!(Cell, spec.plan().unwrap().iter().map(json).collect()),
        target!(CellRow, vec![]),
        target!(Shard, vec![json(&Shard::new(1, 3).unwrap())]),
        target!(CellRecord, vec![]),
        target!(MergedRow, vec![]),
        target!(SweepResults, vec![]),
        target!(MetricName, vec![json(&MetricName::Accuracy)]),
        target!(DatasetName, vec![json(&DatasetName::Iris)]),
        target!(ActivationName, vec![json(&ActivationName::Relu)]),
        target!(InitName, vec![json(&InitName::GlorotUniform)]),
        target!(TopologyName, vec![json(&TopologyName::Chain)]),
        target!(OptimizerName, vec![json(&OptimizerName::Sgd)]),
        target!(LossName, vec![json(&LossName::Mse)]),
        target!(MethodName, vec![json(&MethodName::Units)]),
        target!(ScopeName, vec![json(&ScopeName::Global)]),
    ]
}

/// Every target's seeds, and for a target without seeds of its own, the parts of other seeds (and of a small
/// study's results) that load as it.
fn seeded_targets() -> Vec<Target> {
    let mut targets = targets();
    let spec = prunelab::sweep::SweepSpec::from_toml(
        "name = \"t\"\nseeds = [0, 1]\n[data]\ndataset = \"xor\"\n[network]\nhidden = [4]\n\
         [train]\nlr = 0.01\nepochs = 1\n[experiment]\nkind = \"sparsity\"\n\
         methods = [\"weights\"]\nsparsities = [0.0, 0.5]\n",
    )
    .unwrap();
    let results = json(&spec.run_local().unwrap());
    let mut values: Vec<serde_json::Value> = vec![serde_json::from_str(&results).unwrap()];
    for t in &targets {
        values.extend(t.seeds.iter().map(|s| serde_json::from_str(s).unwrap()));
    }
    let mut parts = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        out.push(v.to_string());
        match v {
            serde_json::Value::Array(a) => a.iter().take(3).for_each(|x| walk(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    values.iter().for_each(|v| walk(v, &mut parts));
    for t in targets.iter_mut().filter(|t| t.seeds.is_empty()) {
        t.seeds = parts
            .iter()
            .filter(|p| p.len() > 2 && (t.load)(p.as_bytes()))
            .take(4)
            .cloned()
            .collect();
    }
    targets
}

/// Field and variant names of the library's public types (as written and in snake case), for arbitrary
/// JSON that reaches past the first key.
fn vocabulary() -> Vec<String> {
    let sources = [
        include_str!("../src/nn/sparse.rs"),
        include_str!("../src/train.rs"),
        include_str!("../src/metrics.rs"),
        include_str!("../src/nn/graph.rs"),
        include_str!("../src/nn/report.rs"),
        include_str!("../src/sweep/results.rs"),
        include_str!("../src/sweep/cell.rs"),
        include_str!("../src/sweep/in_process.rs"),
        include_str!("../src/study/rounds.rs"),
        include_str!("../src/study/table.rs"),
        include_str!("../src/prune/criteria.rs"),
        include_str!("../src/prune/structured.rs"),
        include_str!("../src/data/dataset.rs"),
    ];
    let ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let mut words = vec!["v".to_string(), "dim".into(), "data".into()];
    for line in sources.iter().flat_map(|s| s.lines()).map(str::trim) {
        if let Some((name, _)) = line.strip_prefix("pub ").and_then(|l| l.split_once(':')) {
            if ident(name) {
                words.push(name.to_string());
            }
        }
        let head: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if head.starts_with(|c: char| c.is_ascii_uppercase())
            && line[head.len()..].starts_with([',', ' ', '(', '{'])
        {
            let mut snake = String::new();
            for (i, c) in head.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(c.to_ascii_lowercase());
            }
            words.push(head);
            words.push(snake);
        }
    }
    words.sort();
    words.dedup();
    words
}

const HOSTILE: &[&str] = &[
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "9007199254740993",
    "1e308",
    "-1",
    "0",
    "1",
    "2",
    "1000000",
    "0.5",
    "NaN",
    "[]",
    "{}",
    "null",
    "true",
    "\"x\"",
];

fn check(t: &Target, bytes: &[u8]) -> std::result::Result<(), TestCaseError> {
    let (_, peak) = peak_of(|| (t.load)(bytes));
    prop_assert!(
        peak <= bound(bytes.len()),
        "{}: {} bytes allocated {peak} at once",
        t.name,
        bytes.len()
    );
    if t.name == "SparseMlp" {
        if let Ok(net) = serde_json::from_slice::<SparseMlp>(bytes) {
            use_sparse(&net);
        }
    }
    Ok(())
}

/// Byte spans of the number tokens of a JSON text.
fn numbers(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' {
            // Skip strings.
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if b[i].is_ascii_digit() || b[i] == b'-' {
            let start = i;
            i += 1;
            while i < b.len()
                && (b[i].is_ascii_digit() || matches!(b[i], b'.' | b'e' | b'E' | b'-' | b'+'))
            {
                i += 1;
            }
            spans.push((start, i));
        } else {
            i += 1;
        }
    }
    spans
}

fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let words = vocabulary();
    let leaf = prop_oneof![
        proptest::sample::select(HOSTILE.to_vec())
            .prop_map(|s| serde_json::from_str(s).unwrap_or(serde_json::Value::Null)),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f32>().prop_map(|f| serde_json::Value::from(f as f64)),
        proptest::sample::select(words.clone()).prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::vec((proptest::sample::select(words.clone()), inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

thread_local! {
    static TARGETS: Vec<Target> = seeded_targets();
}

#[test]
fn every_target_has_seeds_that_load() {
    TARGETS.with(|targets| {
        let unseeded: Vec<_> = targets
            .iter()
            .filter(|t| t.seeds.is_empty())
            .map(|t| t.name)
            .collect();
        // Types no seed or study result holds a value of are still fuzzed with arbitrary JSON.
        println!("fuzzed from arbitrary JSON only: {unseeded:?}");
        for t in targets {
            for s in &t.seeds {
                assert!(
                    (t.load)(s.as_bytes()),
                    "{}: a seed does not load: {s}",
                    t.name
                );
            }
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(6000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_json_of_every_public_type_never_panics_or_overallocates(
        pick in any::<usize>(),
        seed in any::<usize>(),
        edits in proptest::collection::vec((any::<usize>(), proptest::sample::select(HOSTILE.to_vec())), 1..4),
        bytes in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 0..3),
    ) {
        TARGETS.with(|targets| {
            let t = &targets[pick % targets.len()];
            if t.seeds.is_empty() {
                return Ok::<(), TestCaseError>(());
            }
            let mut text = t.seeds[seed % t.seeds.len()].clone();
            for (at, replacement) in &edits {
                let spans = numbers(&text);
                if spans.is_empty() {
                    break;
                }
                let (a, b) = spans[at % spans.len()];
                text.replace_range(a..b, replacement);
            }
            let mut raw = text.into_bytes();
            for &(at, b, how) in &bytes {
                if raw.is_empty() {
                    break;
                }
                let i = at % raw.len();
                match how {
                    0 => raw[i] = b,
                    1 => raw[i] ^= 1 << (b % 8),
                    2 => raw.insert(i, b),
                    _ => {
                        raw.remove(i);
                    }
                }
            }
            check(t, &raw)
        })?;
    }

    #[test]
    fn arbitrary_json_as_every_public_type_never_panics_or_overallocates(
        value in arbitrary_json(),
        wrap in proptest::option::of(any::<usize>()),
    ) {
        TARGETS.with(|targets| {
            // As is, and under one of the words as an enum tag (`{"Sparse": ...}`).
            let value = match wrap {
                Some(i) => {
                    let words = vocabulary();
                    serde_json::json!({ words[i % words.len()].clone(): value })
                }
                None => value,
            };
            let text = value.to_string();
            for t in targets {
                check(t, text.as_bytes())?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }

    #[test]
    fn mutated_postcard_sparse_networks_never_panic_or_overallocate(
        seed in 0usize..5,
        csr in any::<bool>(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..5), 1..6),
    ) {
        let net = &seed_sparse()[seed];
        let mut bytes = if csr {
            let c = net.layers().iter().find_map(|l| match &l.kernel {
                Kernel::Sparse(c) | Kernel::BySamples { sparse: c, .. } => Some(c.clone()),
                Kernel::Dense(_) => None,
            });
            match c {
                Some(c) => postcard::to_stdvec(&c).unwrap(),
                None => return Ok(()),
            }
        } else {
            postcard::to_stdvec(net).unwrap()
        };
        for &(at, b, how) in &edits {
            if bytes.is_empty() {
                break;
            }
            let i = at % bytes.len();
            match how {
                0 => bytes[i] = b,
                1 => bytes[i] ^= 1 << (b % 8),
                2 => bytes.insert(i, b),
                3 => {
                    bytes.remove(i);
                }
                // A huge varint in place (a length or a shape).
                _ => {
                    bytes.splice(i..i + 1, [0xff, 0xff, 0xff, 0xff, 0x0f]);
                }
            }
        }
        let len = bytes.len();
        let (result, peak) = peak_of(|| {
            if csr {
                postcard::from_bytes::<Csr>(&bytes).map(|_| None)
            } else {
                postcard::from_bytes::<SparseMlp>(&bytes).map(Some)
            }
        });
        prop_assert!(peak <= bound(len), "{len} postcard bytes allocated {peak}");
        if let Ok(Some(net)) = result {
            use_sparse(&net);
        }
    }
}
