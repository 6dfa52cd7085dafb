//! Sweep specs, shards, resume and merge: the spec's checks name fields, shards partition every plan, any
//! number of shards gives one process's numbers bit for bit, and merge refuses incomplete or doubled results.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use prunelab::sweep::{merge_dir, shard_file, Shard, SweepResults, SweepSpec};
use prunelab::Error;

const IRIS: &str = r#"
# Weight vs unit pruning on iris, three seeds.
name = "iris-test"
seeds = [0, 1, 2]

[data]
dataset = "iris"
test_fraction = 0.3
split_seed = 5

[network]
hidden = [12, 8]

[train]
optimizer = "adam"
lr = 0.02
epochs = 25
batch_size = 16

[experiment]
kind = "sparsity"
methods = ["weights", "units", "random"]
sparsities = [0.0, 0.5, 0.8]
finetune_epochs = 2
"#;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "prunelab-sweep-{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn spec() -> SweepSpec {
    SweepSpec::from_toml(IRIS).unwrap()
}

fn run_shards(spec: &SweepSpec, dir: &Path, n: usize) {
    for i in 0..n {
        spec.run_shard(Shard::new(i, n).unwrap(), dir, |_, _, _| {})
            .unwrap();
    }
}

/// Every metric bit of two results, cell by cell and row by row.
fn same_numbers(a: &SweepResults, b: &SweepResults) {
    assert_eq!(a.records.len(), b.records.len());
    for (x, y) in a.records.iter().zip(&b.records) {
        assert_eq!(x.cell, y.cell);
        assert_eq!(x.rows.len(), y.rows.len());
        for (r, s) in x.rows.iter().zip(&y.rows) {
            assert_eq!(
                (
                    r.method.as_str(),
                    r.x.to_bits(),
                    r.remaining,
                    r.metric.to_bits()
                ),
                (
                    s.method.as_str(),
                    s.x.to_bits(),
                    s.remaining,
                    s.metric.to_bits()
                ),
                "cell {}",
                x.cell
            );
        }
    }
    assert_eq!(a.rows, b.rows);
}

#[test]
fn plan_is_seeds_by_methods_by_sparsities() {
    let cells = spec().plan().unwrap();
    assert_eq!(cells.len(), 3 * 3 * 3);
    assert_eq!(cells[0].id(), "seed=0 method=weights sparsity=0");
    assert_eq!(cells[26].id(), "seed=2 method=random sparsity=0.8");
    let ids: std::collections::HashSet<String> = cells.iter().map(|c| c.id()).collect();
    assert_eq!(ids.len(), cells.len(), "cell ids are unique");
    assert!(cells.iter().enumerate().all(|(i, c)| c.index == i));
}

#[test]
fn n_shards_give_one_process_numbers_bit_for_bit() {
    let spec = spec();
    let local = spec.run_local().unwrap();
    assert_eq!(local.rows.len(), 3 * 3);
    for n in [1, 4, 7, 40] {
        let dir = tmp(&format!("shards{n}"));
        run_shards(&spec, &dir, n);
        let merged = merge_dir(&dir).unwrap();
        same_numbers(&local, &merged);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // Unpruned and pruned rows differ, and remaining weights follow the sparsity.
    let weights = local.series("weight (layerwise)");
    assert_eq!(weights.len(), 3);
    let rows: Vec<_> = local
        .rows
        .iter()
        .filter(|r| r.method == "weight (layerwise)")
        .collect();
    assert!(rows[0].remaining > rows[1].remaining && rows[1].remaining > rows[2].remaining);
    assert!(local
        .rows
        .iter()
        .all(|r| r.n == 3 && r.min <= r.mean && r.mean <= r.max));
}

#[test]
fn merged_mean_and_spread_follow_their_definitions() {
    let local = spec().run_local().unwrap();
    for row in &local.rows {
        let values: Vec<f64> = local
            .records
            .iter()
            .flat_map(|r| &r.rows)
            .filter(|r| r.method == row.method && r.x == row.x)
            .map(|r| r.metric)
            .collect();
        assert_eq!(values.len(), 3);
        let mean = values.iter().sum::<f64>() / 3.0;
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 2.0;
        assert!((row.mean - mean).abs() < 1e-12);
        assert!((row.std - var.sqrt()).abs() < 1e-12);
    }
    let csv = local.to_csv();
    assert!(csv.starts_with("method,sparsity,seeds,mean,std,min,max,remaining\n"));
    assert_eq!(csv.lines().count(), 1 + 9);
    assert_eq!(local.cells_csv().lines().count(), 1 + 27);
}

#[test]
fn a_rerun_skips_done_cells_and_a_stopped_shard_resumes() {
    let spec = spec();
    let dir = tmp("resume");
    let shard = Shard::new(1, 2).unwrap();
    let full = spec.run_shard(shard, &dir, |_, _, _| {}).unwrap();
    assert_eq!((full.cells, full.skipped, full.ran), (14, 0, 14));
    let file = shard_file(&dir, shard);
    let complete = std::fs::read_to_string(&file).unwrap();

    // Again: nothing to do, the file is untouched.
    let again = spec
        .run_shard(shard, &dir, |_, _, _| panic!("no cell runs"))
        .unwrap();
    assert_eq!((again.skipped, again.ran), (14, 0));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), complete);

    // Preempted after five cells: the file holds five records; the re-queued task runs the other nine and
    // the file ends equal (numbers and order) to the uninterrupted one, wall times aside.
    let five: String = complete.lines().take(5).map(|l| format!("{l}\n")).collect();
    std::fs::write(&file, five).unwrap();
    let mut heard = Vec::new();
    let resumed = spec
        .run_shard(shard, &dir, |r, k, n| heard.push((r.cell.clone(), k, n)))
        .unwrap();
    assert_eq!((resumed.skipped, resumed.ran), (5, 9));
    assert_eq!(heard.len(), 9);
    assert_eq!(heard[8].1, 9);
    let strip = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("wall_s");
                v.to_string()
            })
            .collect()
    };
    assert_eq!(
        strip(&std::fs::read_to_string(&file).unwrap()),
        strip(&complete)
    );

    // Cells another shard layout already finished are skipped too.
    let other = spec
        .run_shard(Shard::new(3, 4).unwrap(), &dir, |_, _, _| {})
        .unwrap();
    assert_eq!(other.skipped, other.cells);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn merge_names_missing_and_duplicated_cells() {
    let spec = spec();
    let dir = tmp("merge");
    spec.run_shard(Shard::new(0, 3).unwrap(), &dir, |_, _, _| {})
        .unwrap();
    spec.run_shard(Shard::new(2, 3).unwrap(), &dir, |_, _, _| {})
        .unwrap();
    match merge_dir(&dir) {
        Err(Error::Merge {
            missing,
            duplicated,
            reason,
            ..
        }) => {
            let expected: Vec<String> =
                spec.plan().unwrap()[9..18].iter().map(|c| c.id()).collect();
            assert_eq!(missing, expected);
            assert!(duplicated.is_empty());
            assert!(reason.contains("9 of 27 cells missing"), "{reason}");
        }
        other => panic!("expected a merge error, got {other:?}"),
    }
    spec.run_shard(Shard::new(1, 3).unwrap(), &dir, |_, _, _| {})
        .unwrap();
    assert_eq!(merge_dir(&dir).unwrap().records.len(), 27);

    // A shard file copied under another name doubles its cells.
    std::fs::copy(
        shard_file(&dir, Shard::new(1, 3).unwrap()),
        dir.join("copy.jsonl"),
    )
    .unwrap();
    match merge_dir(&dir) {
        Err(Error::Merge {
            missing,
            duplicated,
            ..
        }) => {
            assert!(missing.is_empty());
            assert_eq!(duplicated.len(), 9);
            assert!(duplicated[0].contains("copy.jsonl"), "{}", duplicated[0]);
        }
        other => panic!("expected a merge error, got {other:?}"),
    }
    std::fs::remove_file(dir.join("copy.jsonl")).unwrap();

    // A damaged line is a format error naming the file and line.
    let f = shard_file(&dir, Shard::new(0, 3).unwrap());
    let mut text = std::fs::read_to_string(&f).unwrap();
    text.push_str("{\"cell\": \"seed=0\", \"trunc\n");
    std::fs::write(&f, text).unwrap();
    let err = merge_dir(&dir).unwrap_err().to_string();
    assert!(err.contains("line 10"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_folder_belongs_to_one_spec() {
    let dir = tmp("foreign");
    let a = spec();
    a.run_shard(Shard::new(2, 3).unwrap(), &dir, |_, _, _| {})
        .unwrap();
    let b = SweepSpec::from_toml(&IRIS.replace("epochs = 25", "epochs = 26")).unwrap();
    assert_ne!(a.digest(), b.digest());
    let err = b.run_shard(Shard::ALL, &dir, |_, _, _| {}).unwrap_err();
    assert!(matches!(err, Error::Incompatible(_)), "{err}");
    assert!(err.to_string().contains("another spec"), "{err}");
    // Comments and layout do not change the digest.
    let c = SweepSpec::from_toml(&format!(
        "# a comment\n{}",
        IRIS.replace("seeds = [0, 1, 2]", "seeds = [ 0,1,2 ]")
    ))
    .unwrap();
    assert_eq!(a.digest(), c.digest());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn spec_round_trips_through_toml() {
    let s = spec();
    let again = SweepSpec::from_toml(&s.to_toml().unwrap()).unwrap();
    assert_eq!(s, again);
    assert_eq!(s.digest(), again.digest());
}

/// The field each broken spec is blamed on.
fn field_of(text: &str) -> String {
    match SweepSpec::from_toml(text) {
        Err(Error::Spec { field, reason }) => {
            assert!(!reason.is_empty());
            field
        }
        Err(e) => panic!("expected a spec error, got {e}"),
        Ok(_) => panic!("accepted a broken spec:\n{text}"),
    }
}

#[test]
fn mistakes_name_their_field() {
    let cases: &[(&str, &str, &str)] = &[
        ("epochs = 25", "epochs = -3", "train.epochs"),
        ("epochs = 25", "epochs = \"many\"", "train.epochs"),
        ("epochs = 25", "epochz = 25", "train.epochz"),
        ("lr = 0.02", "lr = 0.0", "train.lr"),
        ("lr = 0.02", "lr = nan", "train.lr"),
        (
            "batch_size = 16",
            "batch_size = \"half\"",
            "train.batch_size",
        ),
        ("batch_size = 16", "batch_size = 0", "train.batch_size"),
        (
            "batch_size = 16",
            "batch_size = 16\nsparse_density = 1.5",
            "train.sparse_density",
        ),
        (
            "batch_size = 16",
            "batch_size = 16\nsparse_density = nan",
            "train.sparse_density",
        ),
        (
            "optimizer = \"adam\"",
            "optimizer = \"adamw\"",
            "train.optimizer",
        ),
        (
            "optimizer = \"adam\"",
            "optimizer = \"adam\"\nmomentum = 0.9",
            "train.momentum",
        ),
        (
            "sparsities = [0.0, 0.5, 0.8]",
            "sparsities = [0.0, 1.5, 0.8]",
            "experiment.sparsities[1]",
        ),
        (
            "sparsities = [0.0, 0.5, 0.8]",
            "sparsities = [0.0, 0.5, 0.5]",
            "experiment.sparsities[2]",
        ),
        (
            "sparsities = [0.0, 0.5, 0.8]",
            "sparsities = []",
            "experiment.sparsities",
        ),
        (
            "methods = [\"weights\", \"units\", \"random\"]",
            "methods = [\"weights\", \"neurons\"]",
            "experiment.methods[1]",
        ),
        (
            "finetune_epochs = 2",
            "finetune_epochs = 2\nskip = [3]",
            "experiment.skip",
        ),
        (
            "kind = \"sparsity\"",
            "kind = \"pruning\"",
            "experiment.kind",
        ),
        ("seeds = [0, 1, 2]", "seeds = [0, 1, 1]", "seeds"),
        ("seeds = [0, 1, 2]", "seeds = []", "seeds"),
        ("seeds = [0, 1, 2]", "seeds = [-1]", "seeds[0]"),
        ("hidden = [12, 8]", "hidden = [12, 0]", "network.hidden[1]"),
        (
            "hidden = [12, 8]",
            "hidden = [12, 8]\nactivation = \"swish\"",
            "network.activation",
        ),
        ("dataset = \"iris\"", "dataset = \"cifar\"", "data.dataset"),
        (
            "test_fraction = 0.3",
            "test_fraction = 1.0",
            "data.test_fraction",
        ),
        ("name = \"iris-test\"", "name = \"\"", "name"),
        ("name = \"iris-test\"\n", "", "name"),
        ("[train]", "[train", "(file)"),
    ];
    for (from, to, field) in cases {
        assert!(IRIS.contains(from), "{from}");
        let text = IRIS.replacen(from, to, 1);
        let got = field_of(&text);
        assert!(
            got == *field || got.starts_with(&format!("{field}.")),
            "{from} -> {to}: blamed {got:?}, expected {field:?}"
        );
    }
}

#[test]
fn checks_that_need_the_data_name_their_field() {
    let ap = IRIS.replacen(
        "name = \"iris-test\"",
        "name = \"iris-test\"\nmetric = \"average_precision\"",
        1,
    );
    match SweepSpec::from_toml(&ap).unwrap().run_local() {
        Err(Error::Spec { field, .. }) => assert_eq!(field, "metric"),
        other => panic!("expected a spec error, got {other:?}"),
    }
    let sig = IRIS.replacen(
        "hidden = [12, 8]",
        "hidden = [12, 8]\noutput = \"sigmoid\"",
        1,
    );
    match SweepSpec::from_toml(&sig)
        .unwrap()
        .plan()
        .and_then(|_| SweepSpec::from_toml(&sig)?.load_data())
    {
        Err(Error::Spec { field, .. }) => assert_eq!(field, "network.output"),
        other => panic!("expected a spec error, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn threshold_iterative_and_lottery_kinds_run() {
    let base = IRIS.split("[experiment]").next().unwrap().to_string();
    let threshold = format!(
        "{base}[experiment]\nkind = \"threshold\"\nthresholds = {{ start = 0.0, stop = 0.6, count = 13 }}\n"
    );
    let r = SweepSpec::from_toml(&threshold)
        .unwrap()
        .run_local()
        .unwrap();
    assert_eq!(r.x_name, "threshold");
    assert_eq!(r.records.len(), 3);
    assert_eq!(r.rows.len(), 13);
    assert!((r.rows[12].x - 0.6).abs() < 1e-6);
    assert!(r.rows.windows(2).all(|w| w[0].remaining >= w[1].remaining));

    let iterative = format!(
        "{base}[experiment]\nkind = \"iterative\"\nrounds = 3\namount = 0.5\nretrain_epochs = 3\nscope = \"global\"\n"
    );
    let r = SweepSpec::from_toml(&iterative)
        .unwrap()
        .run_local()
        .unwrap();
    let xs: Vec<f64> = r.rows.iter().map(|r| r.x).collect();
    assert_eq!(xs, vec![0.0, 0.5, 0.75, 0.875]);

    let lottery = format!(
        "{base}[experiment]\nkind = \"lottery\"\nrounds = 2\namount = 0.4\nrewind_epoch = 1\n"
    );
    let spec = SweepSpec::from_toml(&lottery).unwrap();
    let r = spec.run_local().unwrap();
    assert_eq!(
        r.methods(),
        vec!["lottery ticket", "random reinit", "one-shot"]
    );
    assert_eq!(r.rows.len(), 9);
    // Every masked layer through the sparse kernels, and none: the same numbers (only the time differs).
    for density in ["0.0", "1.0"] {
        let text = lottery.replacen(
            "[train]\n",
            &format!("[train]\nsparse_density = {density}\n"),
            1,
        );
        same_numbers(
            &r,
            &SweepSpec::from_toml(&text).unwrap().run_local().unwrap(),
        );
    }
    let dir = tmp("lottery");
    run_shards(&spec, &dir, 2);
    same_numbers(&r, &merge_dir(&dir).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shards_come_from_the_scheduler_environment() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    assert_eq!(Shard::from_vars(env(&[])).unwrap(), None);
    assert_eq!(
        Shard::from_vars(env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "4")
        ]))
        .unwrap(),
        Some(Shard::new(3, 4).unwrap())
    );
    // An array numbered 1-4.
    assert_eq!(
        Shard::from_vars(env(&[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1")
        ]))
        .unwrap(),
        Some(Shard::new(0, 4).unwrap())
    );
    assert_eq!(
        Shard::from_vars(env(&[
            ("JOB_COMPLETION_INDEX", "2"),
            ("PRUNELAB_SHARD_COUNT", "3")
        ]))
        .unwrap(),
        Some(Shard::new(2, 3).unwrap())
    );
    assert!(Shard::from_vars(env(&[("JOB_COMPLETION_INDEX", "2")])).is_err());
    assert!(Shard::from_vars(env(&[
        ("SLURM_ARRAY_TASK_ID", "4"),
        ("SLURM_ARRAY_TASK_COUNT", "4")
    ]))
    .is_err());
    assert!(Shard::from_vars(env(&[
        ("SLURM_ARRAY_TASK_ID", "x"),
        ("SLURM_ARRAY_TASK_COUNT", "4")
    ]))
    .is_err());
    for bad in ["4/4", "1", "-1/3", "a/b", "0/0", ""] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }
    // A shard written as a literal that `new` would refuse runs nothing and is a typed error.
    let bogus = Shard { index: 3, count: 2 };
    assert_eq!(bogus.range(10), 0..0);
    assert_eq!(Shard { index: 0, count: 0 }.range(10), 0..0);
    let dir = tmp("bogus");
    assert!(matches!(
        spec().run_shard(bogus, &dir, |_, _, _| {}),
        Err(Error::IndexOutOfRange { what: "shard", .. })
    ));
    assert!(!dir.exists());
}

proptest! {
    #[test]
    fn shards_cover_every_cell_exactly_once(cells in 0usize..5000, count in 1usize..300) {
        let mut next = 0;
        for i in 0..count {
            let r = Shard::new(i, count).unwrap().range(cells);
            prop_assert_eq!(r.start, next);
            prop_assert!(r.len() <= cells / count + 1);
            next = r.end;
        }
        prop_assert_eq!(next, cells);
    }
}

#[test]
fn the_shipped_specs_parse_and_plan() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sweeps");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let spec =
                SweepSpec::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!spec.plan().unwrap().is_empty());
            n += 1;
        }
    }
    assert!(n >= 2, "the specs in sweeps/ were not found");
}

// ---------------------------------------------------------------- every documented field, a wrong type

/// A field `docs/sweep-spec.md` documents: its path (`train.epochs`), its documented type, and the experiment
/// kind whose table lists it (none outside `[experiment]`).
#[derive(Debug, Clone)]
struct DocField {
    section: &'static str,
    name: String,
    ty: String,
    kind: Option<String>,
}

impl DocField {
    fn path(&self) -> String {
        match self.section {
            "" => self.name.clone(),
            s => format!("{s}.{}", self.name),
        }
    }
}

/// Every row of every field table in `docs/sweep-spec.md`, and `kind`, which its prose documents.
fn documented_fields() -> Vec<DocField> {
    let doc = include_str!("../../../docs/sweep-spec.md");
    let mut fields = Vec::new();
    let (mut section, mut kind): (Option<&'static str>, Option<String>) = (None, None);
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            kind = None;
            section = match h.trim() {
                "Top level" => Some(""),
                "`[data]`" => Some("data"),
                "`[network]`" => Some("network"),
                "`[train]`" => Some("train"),
                "`[experiment]`" => Some("experiment"),
                _ => None,
            };
            continue;
        }
        if let Some(rest) = line.strip_prefix("**`kind = \"") {
            kind = rest.split_once('"').map(|(k, _)| k.to_string());
            continue;
        }
        let (Some(section), Some(row)) = (section, line.strip_prefix("| `")) else {
            continue;
        };
        let mut cells = row.split(" | ");
        let name = cells.next().unwrap().trim_end_matches('`').to_string();
        let ty = cells.next().unwrap_or_default().to_string();
        if section == "experiment" {
            assert!(
                kind.is_some(),
                "experiment field `{name}` outside a kind's table"
            );
        }
        fields.push(DocField {
            section,
            name,
            ty,
            kind: kind.clone(),
        });
    }
    for k in ["sparsity", "threshold", "iterative", "lottery"] {
        fields.push(DocField {
            section: "experiment",
            name: "kind".into(),
            ty: "string".into(),
            kind: Some(k.into()),
        });
    }
    fields
}

/// A valid spec of experiment `kind` (default `sparsity`) with `path` set to the TOML value `value`.
fn spec_with(kind: Option<&str>, path: Option<(&str, &str)>, value: &str) -> String {
    let kind = kind.unwrap_or("sparsity");
    let experiment: &[(&str, &str)] = match kind {
        "sparsity" => &[("methods", "[\"weights\"]"), ("sparsities", "[0.5]")],
        "threshold" => &[("thresholds", "{ start = 0.0, stop = 0.1, count = 2 }")],
        "iterative" | "lottery" => &[("rounds", "1"), ("amount", "0.5")],
        k => panic!("no kind {k}"),
    };
    let pairs = |kv: &[(&str, &str)]| -> Vec<(String, String)> {
        kv.iter()
            .map(|&(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let mut exp = vec![("kind".to_string(), format!("\"{kind}\""))];
    exp.extend(pairs(experiment));
    let mut sections: Vec<(&str, Vec<(String, String)>)> = vec![
        ("", pairs(&[("name", "\"t\""), ("seeds", "[0]")])),
        ("data", pairs(&[("dataset", "\"iris\"")])),
        ("network", pairs(&[("hidden", "[4]")])),
        ("train", pairs(&[("lr", "0.01"), ("epochs", "1")])),
        ("experiment", exp),
    ];
    if let Some((section, name)) = path {
        let kv = &mut sections.iter_mut().find(|(s, _)| *s == section).unwrap().1;
        match kv.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value.to_string(),
            None => kv.push((name.to_string(), value.to_string())),
        }
    }
    let mut text = String::new();
    for (s, kv) in &sections {
        if !s.is_empty() {
            text += &format!("\n[{s}]\n");
        }
        for (k, v) in kv {
            text += &format!("{k} = {v}\n");
        }
    }
    text
}

/// Valid inline tables for the documented `{ a = A, b = B }` fields, by name.
fn valid_table(name: &str) -> &'static str {
    match name {
        "normalize" => "{ mean = 0.5, std = 0.5 }",
        "thresholds" => "{ start = 0.0, stop = 0.1, count = 2 }",
        n => panic!("no valid value for table `{n}`"),
    }
}

/// Values of the wrong type for a field documented as `ty`, each with the path its error must name (the
/// field's, or an element's or a member's inside it).
fn wrong_values(f: &DocField) -> Vec<(String, String)> {
    let path = f.path();
    let ty = f.ty.to_lowercase();
    let mut v = vec![(
        if ty.contains("bool") {
            "\"yes\""
        } else {
            "true"
        }
        .to_string(),
        path.clone(),
    )];
    v.push(("{ a = 1 }".into(), path.clone()));
    if ty.contains("bool") {
        v.push(("2".into(), path.clone()));
    }
    if ty.starts_with("list") {
        // A string where a list belongs, and a wrong element.
        v.push(("\"x\"".into(), path.clone()));
        v.push(("[true]".into(), format!("{path}[0]")));
    } else if ty.contains("integer") {
        // A negative count, a fraction, a string.
        v.push(("-1".into(), path.clone()));
        v.push(("1.5".into(), path.clone()));
        v.push(("[1]".into(), path.clone()));
    } else if ty.contains("number") {
        v.push(("\"x\"".into(), path.clone()));
        v.push(("[0.5]".into(), path.clone()));
    }
    if ty.starts_with("`{") {
        v.push(("\"x\"".into(), path.clone()));
        // Each member of the inline table given a wrong type.
        let valid = valid_table(&f.name);
        for member in ty
            .trim_matches(|c| c == '`' || c == '{' || c == '}' || c == ' ')
            .split(',')
            .map(|m| m.split('=').next().unwrap().trim().to_string())
        {
            let at = valid.find(&format!("{member} = ")).unwrap() + member.len() + 3;
            let end = at + valid[at..].find([',', ' ']).unwrap();
            let mut t = valid.to_string();
            t.replace_range(at..end, "\"x\"");
            v.push((t, format!("{path}.{member}")));
        }
    }
    v
}

#[test]
fn every_documented_field_given_a_wrong_type_names_that_field() {
    let fields = documented_fields();
    // The doc's tables: 3 top-level, 7 data, 6 network, 8 train and 4 + 3 + 5 + 6 experiment fields, plus
    // `kind` per kind.
    assert_eq!(fields.len(), 3 + 7 + 6 + 8 + 18 + 4, "{fields:#?}");
    for kind in ["sparsity", "threshold", "iterative", "lottery"] {
        SweepSpec::from_toml(&spec_with(Some(kind), None, ""))
            .unwrap_or_else(|e| panic!("the base {kind} spec: {e}"));
    }
    let mut failures = Vec::new();
    for f in &fields {
        for (value, expected) in wrong_values(f) {
            let text = spec_with(f.kind.as_deref(), Some((f.section, &f.name)), &value);
            match SweepSpec::from_toml(&text) {
                Err(Error::Spec { field, reason }) => {
                    let names = field == expected
                        || field.starts_with(&format!("{expected}."))
                        || field.starts_with(&format!("{expected}["));
                    if !names || reason.is_empty() {
                        failures.push(format!(
                            "{} = {value}: blamed {field:?} ({reason}), expected {expected:?}",
                            f.path()
                        ));
                    }
                }
                Err(e) => failures.push(format!("{} = {value}: not a spec error: {e}", f.path())),
                Ok(_) => failures.push(format!("{} = {value}: accepted", f.path())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_field_a_spec_writes_is_documented() {
    // Specs of every kind with every optional field set: each key `to_toml` writes is in the doc's tables.
    let documented: Vec<String> = documented_fields().iter().map(DocField::path).collect();
    let full = |kind: &str, extra: &[(&str, &str)]| {
        let mut text = spec_with(Some(kind), Some(("", "metric")), "\"accuracy\"");
        for (path, value) in [
            ("data.test_fraction", "0.2"),
            ("data.split_seed", "3"),
            ("data.normalize", "{ mean = 0.5, std = 0.5 }"),
            ("data.train_limit", "10"),
            ("network.activation", "\"tanh\""),
            ("network.output", "\"softmax\""),
            ("network.bias", "false"),
            ("network.init", "\"kaiming_uniform\""),
            ("network.topology", "\"chain\""),
            ("train.optimizer", "\"sgd\""),
            ("train.momentum", "0.5"),
            ("train.weight_decay", "0.1"),
            ("train.batch_size", "8"),
            ("train.loss", "\"cross_entropy\""),
            ("train.sparse_density", "0.5"),
        ]
        .iter()
        .chain(extra)
        {
            let (section, name) = path.split_once('.').unwrap();
            text = text.replacen(
                &format!("[{section}]\n"),
                &format!("[{section}]\n{name} = {value}\n"),
                1,
            );
        }
        SweepSpec::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    };
    let specs = [
        full(
            "sparsity",
            &[
                ("experiment.skip", "[0]"),
                ("experiment.finetune_epochs", "1"),
            ],
        ),
        full(
            "threshold",
            &[("experiment.inclusive", "true"), ("experiment.skip", "[0]")],
        ),
        full(
            "iterative",
            &[
                ("experiment.retrain_epochs", "1"),
                ("experiment.scope", "\"global\""),
                ("experiment.skip", "[0]"),
            ],
        ),
        full(
            "lottery",
            &[
                ("experiment.rewind_epoch", "1"),
                ("experiment.scope", "\"global\""),
                ("experiment.skip", "[0]"),
                ("experiment.controls", "false"),
            ],
        ),
    ];
    for spec in specs {
        let value: toml::Table = toml::from_str(&spec.to_toml().unwrap()).unwrap();
        for (key, v) in &value {
            let paths: Vec<String> = match v.as_table() {
                Some(t) => t.keys().map(|k| format!("{key}.{k}")).collect(),
                None => vec![key.clone()],
            };
            for p in paths {
                assert!(
                    documented.contains(&p),
                    "`{p}` is not in docs/sweep-spec.md"
                );
            }
        }
        // And what is written reads back equal (the experiment included).
        assert_eq!(
            SweepSpec::from_toml(&spec.to_toml().unwrap()).unwrap(),
            spec
        );
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<SweepSpec>(&json).unwrap(), spec);
    }
}

#[test]
fn misplaced_missing_and_unknown_fields_name_the_field() {
    let cases = [
        (
            spec_with(Some("sparsity"), Some(("experiment", "rounds")), "3"),
            "experiment.rounds",
        ),
        (
            spec_with(
                Some("threshold"),
                Some(("experiment", "methods")),
                "[\"weights\"]",
            ),
            "experiment.methods",
        ),
        (
            spec_with(
                Some("lottery"),
                Some(("experiment", "finetune_epochs")),
                "1",
            ),
            "experiment.finetune_epochs",
        ),
        (
            spec_with(Some("sparsity"), Some(("experiment", "typo")), "1"),
            "experiment.typo",
        ),
        (
            spec_with(Some("sparsity"), Some(("data", "typo")), "1"),
            "data.typo",
        ),
        (
            spec_with(Some("iterative"), None, "").replace("rounds = 1\n", ""),
            "experiment.rounds",
        ),
        (
            spec_with(Some("threshold"), None, "").replace("kind = \"threshold\"\n", ""),
            "experiment.kind",
        ),
        (
            spec_with(
                Some("sparsity"),
                Some(("experiment", "kind")),
                "\"pruning\"",
            ),
            "experiment.kind",
        ),
        (
            spec_with(None, None, "").replace("lr = 0.01\n", ""),
            "train.lr",
        ),
        (
            spec_with(None, None, "").replace("name = \"t\"\n", ""),
            "name",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(field_of(&text), expected, "{text}");
    }
}
