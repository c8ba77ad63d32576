#!/usr/bin/env bash
# From audit to redesign to report, on the shipped sample (run from the repository root
# after `make setup`). Every step writes into out/walkthrough/.
set -euo pipefail
export PATH="$PWD/.venv/bin:$PATH"
out=out/walkthrough
mkdir -p "$out"

# 1. Import the exports: every row is an event, a counted duplicate, or a reject with its reason.
procmine import logs/ -o "$out/log.parquet"

# 2. Audit against 最多跑一次: trips, documents, redundant steps, bottlenecks, time limits.
procmine audit "$out/log.parquet" -o "$out/findings.json" --top 10

# 3. How does 企业开办一件事 really run? Activity map with waiting times, department handovers.
procmine discover "$out/log.parquet" -o "$out/企业开办_流程.svg" --service 企业开办一件事 --metric waiting
procmine discover "$out/log.parquet" -o "$out/部门流转.svg" --view department

# 4. Does the real process follow the service guide?
procmine conform "$out/log.parquet" --reference templates/references/建筑工程施工许可.yaml

# 5. A draft plan from the findings; a department edits it (here: the shipped, edited plan).
procmine suggest "$out/log.parquet" -o "$out/草稿方案.yaml"
procmine redesign "$out/log.parquet" --plan templates/plans/企业开办一件事.yaml -o "$out/四减.xlsx"

# 6. Did anything change between the first and second quarter? (Noise is marked as such.)
procmine compare "$out/log.parquet" --split-date 2024-04-01 -o "$out/对比.json"

# 7. The deliverables for the leader: a workbook and a standalone HTML page.
procmine report "$out/log.parquet" -o "$out/报告.xlsx" --reference templates/references/食品经营许可.yaml
procmine report "$out/log.parquet" -o "$out/报告.html" --split-date 2024-04-01
echo "open $out/报告.html"
