//! The fuzzer's command line: runs inputs of one seed through check, fmt,
//! test and run, and prints what it did (see fuzz/harness.rs).
//!
//! cargo bench --bench fuzz -- [--seed N] [--from I] [--inputs N] [--modes check,fmt,run,test]
//!                             [--only I]   (replays one input and prints it)

mod harness;

use harness::Mode;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let seed: u64 = value("--seed").map_or(1, |s| s.parse().expect("--seed N"));
    let from: u64 = value("--from").map_or(0, |s| s.parse().expect("--from I"));
    let inputs: u64 = value("--inputs").map_or(10_000, |s| s.parse().expect("--inputs N"));
    let modes: Vec<Mode> = value("--modes").map_or(Mode::ALL.to_vec(), |s| {
        s.split(',')
            .map(|m| Mode::parse(m).expect("modes: check, fmt, run, test"))
            .collect()
    });
    let big = args.iter().any(|a| a == "--big");
    let make = if big {
        harness::big_input
    } else {
        harness::input
    };
    if let Some(i) = value("--only") {
        let i: u64 = i.parse().expect("--only I");
        let input = make(seed, i);
        println!("{}", input.program);
        for line in &input.lines {
            println!("# input: {line}");
        }
        let stats = harness::run_with(seed, i, i + 1, &modes, make, |_| {});
        println!("{stats:?}");
        return;
    }
    // Quiet panics: they are counted and listed at the end.
    std::panic::set_hook(Box::new(|_| {}));
    let started = std::time::Instant::now();
    let names: Vec<&str> = modes.iter().map(|m| m.name()).collect();
    eprintln!(
        "fuzz: seed {seed}, inputs {from}..{}, modes {}{}",
        from + inputs,
        names.join(","),
        if big { ", big inputs" } else { "" }
    );
    let stats = harness::run_with(seed, from, from + inputs, &modes, make, |s| {
        eprintln!(
            "  {} inputs ({} clean), {} records, {} crashes, {:.0} s",
            s.inputs,
            s.clean,
            s.records,
            s.crashes.len(),
            started.elapsed().as_secs_f64()
        );
    });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seed {seed} inputs {from}..{} modes {}{}: {} inputs, {} bytes (largest {}), {} checked clean, {} records mapped, {} crashes, {:.1} s",
        from + inputs,
        names.join(","),
        if big { " (big)" } else { "" },
        stats.inputs,
        stats.bytes,
        stats.largest,
        stats.clean,
        stats.records,
        stats.crashes.len(),
        secs
    );
    for (i, why) in &stats.crashes {
        println!("  crash: input {i}: {why}  (replay: --seed {seed} --only {i})");
    }
    if !stats.crashes.is_empty() {
        std::process::exit(1);
    }
}
