//! Prompt stability, content, sizes, and the tolerant analysis parser.

use agentbench::ingest::{ingest, summarize, DataSummary, IngestOptions};
use agentbench::prompt::{
    analysis_prompt, parse_analysis, prompt_hash, report_prompt, template_hashes, Analysis,
};
use std::path::Path;

fn mock_summary() -> DataSummary {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("mock-data");
    summarize(&ingest(&root, &IngestOptions::default()).unwrap())
}

const WELL_FORMED: &str = "\
## Executive Summary
gemma3:latest is the fastest model at 101.2 tok/s.
Cold starts dominate TTFT.

## Key Findings
- gemma3 decodes at 101.2 tok/s.
- num_gpu=60 is 22% slower,
  across all models.
- 3% of calls failed.

## Performance Metrics
| Metric | Value |
|---|---|
| Mean tok/s | 95.1 |
| Warm TTFT | 0.41 s |

## Recommendations
1. Use num_gpu=120.
2. Warm the model before measuring.
";

fn sample_analysis() -> Analysis {
    parse_analysis(WELL_FORMED)
}

#[test]
fn prompts_are_byte_identical_across_independent_ingests() {
    let (a, b) = (mock_summary(), mock_summary());
    let (pa, pb) = (analysis_prompt(&a), analysis_prompt(&b));
    assert_eq!(pa, pb);
    assert_eq!(prompt_hash(&pa), prompt_hash(&pb));
    let an = sample_analysis();
    assert_eq!(report_prompt(&an, &a), report_prompt(&an, &b));
    // A different analysis changes the report prompt.
    assert_ne!(
        report_prompt(&an, &a),
        report_prompt(&Analysis::default(), &a)
    );
}

#[test]
fn prompts_contain_real_numbers_from_the_data() {
    let s = mock_summary();
    let p = analysis_prompt(&s);
    let gemma = s
        .models
        .iter()
        .find(|m| m.model == "gemma3:latest")
        .unwrap();
    let tps = format!("{:.2}", gemma.tokens_per_second.as_ref().unwrap().mean);
    assert!(
        p.contains("gemma3:latest") && p.contains(&tps),
        "missing {tps}"
    );
    assert!(p.contains("qwen2.5:7b") && p.contains("llama3.1:8b-instruct-q4_0"));
    assert!(p.contains(&format!("{} failed calls", s.errors.total)));
    assert!(p.contains("28 CSV, 44 JSON, 29 Markdown"));
    for section in [
        "## Executive Summary",
        "## Key Findings",
        "## Performance Metrics",
        "## Recommendations",
    ] {
        assert!(p.contains(section), "{section}");
    }
    let best = s
        .configs
        .iter()
        .filter(|c| c.tokens_per_second.as_ref().is_some_and(|d| d.n >= 3))
        .map(|c| c.tokens_per_second.as_ref().unwrap().mean)
        .fold(f64::MIN, f64::max);
    assert!(
        p.contains(&format!("{best:.2}")),
        "best config {best:.2} missing"
    );
    let r = report_prompt(&sample_analysis(), &s);
    assert!(r.contains("gemma3:latest is the fastest model at 101.2 tok/s."));
    assert!(r.contains("- Mean tok/s: 95.1"));
    assert!(r.contains("- Use num_gpu=120."));
    assert!(r.contains(&tps) && r.contains("reports/param_sweep"));
    assert!(r.contains("## 6. Appendix"));
}

#[test]
fn prompt_sizes_are_in_the_intended_ranges() {
    let s = mock_summary();
    let a = analysis_prompt(&s).len();
    let r = report_prompt(&sample_analysis(), &s).len();
    println!("analysis prompt {a} bytes, report prompt {r} bytes");
    assert!((1500..=4000).contains(&a), "analysis prompt {a} bytes");
    assert!((4000..=8000).contains(&r), "report prompt {r} bytes");
    // Bounded even for a huge analysis.
    let big = Analysis {
        summary: "x".repeat(100_000),
        findings: vec!["y".repeat(10_000); 500],
        recommendations: vec!["z".repeat(10_000); 500],
        metrics: vec!["w".repeat(10_000); 500],
    };
    assert!(report_prompt(&big, &s).len() < r + 12_000);
}

#[test]
fn template_hashes_are_stable_and_distinct() {
    let h = template_hashes();
    assert_eq!(h, template_hashes());
    assert_eq!(h.len(), 2);
    assert_ne!(h["analysis"], h["report"]);
    assert_eq!(
        prompt_hash("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn parses_well_formed_response() {
    let a = sample_analysis();
    assert_eq!(
        a.summary,
        "gemma3:latest is the fastest model at 101.2 tok/s. Cold starts dominate TTFT."
    );
    assert_eq!(
        a.findings,
        [
            "gemma3 decodes at 101.2 tok/s.",
            "num_gpu=60 is 22% slower, across all models.",
            "3% of calls failed."
        ]
    );
    assert_eq!(a.metrics, ["Mean tok/s: 95.1", "Warm TTFT: 0.41 s"]);
    assert_eq!(
        a.recommendations,
        ["Use num_gpu=120.", "Warm the model before measuring."]
    );
}

#[test]
fn parses_variants_bold_lowercase_numbered() {
    let text = "Here is my analysis.\n\n**Executive summary**\nThroughput is fine.\n\n**KEY FINDINGS:**\n* one\n* two\n\n# performance metrics\n+ tok/s 90\n\nrecommendations:\n1) do this\n2) do that\n";
    let a = parse_analysis(text);
    assert_eq!(a.summary, "Throughput is fine.");
    assert_eq!(a.findings, ["one", "two"]);
    assert_eq!(a.metrics, ["tok/s 90"]);
    assert_eq!(a.recommendations, ["do this", "do that"]);

    let numbered = "1. Executive Summary\nAll good.\n2. Key Findings\n- **Fast**: 100 tok/s\n3. Recommendations\n- keep going\n";
    let a = parse_analysis(numbered);
    assert_eq!(a.summary, "All good.");
    assert_eq!(a.findings, ["Fast: 100 tok/s"]);
    assert_eq!(a.recommendations, ["keep going"]);

    let inline = "Executive Summary: short and sweet.\n### Key insights\n- x\n";
    let a = parse_analysis(inline);
    assert_eq!(a.summary, "short and sweet.");
    assert_eq!(a.findings, ["x"]);

    // Missing summary section: the preamble stands in.
    let a = parse_analysis("Overall the runs look healthy.\n\n## Recommendations\n- a\n");
    assert_eq!(a.summary, "Overall the runs look healthy.");
    assert_eq!(a.recommendations, ["a"]);
}

#[test]
fn garbage_and_empty_inputs_do_not_panic() {
    assert_eq!(parse_analysis(""), Analysis::default());
    assert_eq!(parse_analysis("   \n\n\t\n"), Analysis::default());
    let a = parse_analysis("just one line of prose\nand another\n\nsecond paragraph");
    assert_eq!(a.summary, "just one line of prose and another");
    assert!(a.findings.is_empty() && a.recommendations.is_empty() && a.metrics.is_empty());
    let long = "é".repeat(5000);
    let a = parse_analysis(&long);
    assert!(a.summary.len() <= 2000 && a.summary.starts_with('é'));
    for junk in [
        "**",
        "****",
        "#",
        "|",
        "|---|",
        "1.",
        "- ",
        "::::",
        "__",
        "\u{0}\u{7f}",
        "**x**:",
        "1) ",
        "* **",
        "## \n- a\n|a|b|\n|-|",
        // A section whose first table row cleans to nothing (underflowed before).
        "## Key Findings\n|**|",
        "## Key Findings\n|**|\n|---|",
    ] {
        let _ = parse_analysis(junk);
    }
    let bytes: Vec<u8> = (0..4000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let _ = parse_analysis(&String::from_utf8_lossy(&bytes));
    let many = "## Key Findings\n".to_string() + &"- item\n".repeat(1000);
    assert_eq!(parse_analysis(&many).findings.len(), 50);
}

#[test]
#[ignore]
fn show_prompts() {
    let s = mock_summary();
    println!(
        "{}\n=====\n{}",
        analysis_prompt(&s),
        report_prompt(&sample_analysis(), &s)
    );
}
