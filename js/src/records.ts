// Generated from the record types in chatzoo_widget/records/, do not edit:
//   python -m chatzoo_widget.records --ts > js/src/records.ts
// (tests/test_records.py fails while this file is out of date).

/** Statistics of one reply (`ReplyStats.to_dict()`: `w.stats`, a reply's `stats`). */
export interface Stats {
  prompt_tokens?: number | null;
  new_tokens?: number | null;
  /** seconds from the call to the first text */
  time_to_first_token?: number | null;
  /** new tokens over the time after the first one */
  tokens_per_second?: number | null;
  total_time?: number | null;
  /** stop | length | cancelled | error */
  finish_reason?: string | null;
  /** oldest turns left out: the history was longer than the context */
  dropped_turns?: number | null;
  /** decoded in the model's shared batch (null: not a local model) */
  batched?: boolean | null;
  error?: string | null;
  /** of new_tokens, those spent thinking */
  reasoning_tokens?: number | null;
  /** mean log-probability per generated token (logprobs on) */
  mean_logprob?: number | null;
  /** exp(-mean_logprob) */
  perplexity?: number | null;
}

/** One of the likeliest tokens at a position of a reply (OpenAI's TopLogprob, plus the id). */
export interface TokenAlternative {
  /** the token's text (an incomplete UTF-8 character shows as U+FFFD) */
  token: string;
  /** natural log of its probability (see the README: after repetition penalty, before temperature, top-k and top-p) */
  logprob: number;
  /** the token's own UTF-8 bytes */
  bytes: number[] | null;
  /** the token id in the column's vocabulary (local columns) */
  id?: number;
}

/** One generated token of a reply with logprobs on (OpenAI's ChatCompletionTokenLogprob, plus the id). */
export interface TokenLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
  id?: number;
  /** the likeliest tokens at this position, best first */
  top_logprobs: TokenAlternative[];
}

/** Where a reply was branched from an alternative token (`w.branch`): the reply before it is `alternatives[0]`. */
export interface Branch {
  /** the position in the old reply's tokens where the chosen token went */
  token_index: number;
  /** the alternative chosen there */
  token: string;
  /** the token the old reply had there */
  replaced: string;
}

/** One entry of a column's history (`w.history`, `w.entries`): a prompt (HUMAN) or a reply (BOT). */
export interface Entry {
  role: "HUMAN" | "BOT";
  /** a reply's answer (its thinking is in `reasoning`) */
  content: string;
  turn: number;
  /** BOT entries */
  stats?: Stats | null;
  /** the exact text the model received (remote columns: the messages sent, as JSON) */
  rendered_prompt?: string | null;
  prompt_tokens?: number | null;
  /** the thinking, apart from the answer */
  reasoning?: string | null;
  /** the thinking block was never closed */
  reasoning_unfinished?: boolean;
  /** the column whose reply the conversation continued with; `alternatives[0]` is this column's own */
  continued_with?: string | null;
  alternatives?: Entry[];
  /** BOT entries with logprobs on: each generated token */
  tokens?: TokenLogprob[];
  /** a reply branched from an alternative token */
  branched_from?: Branch;
  /** logprobs were on but the model gave none (a server that returns none): why */
  logprobs_unavailable?: string;
  /** HUMAN entries: the turns this prompt replaced by an edit */
  edited?: EditedTurn[];
}

/** A turn replaced by an edit of its prompt (kept in the new prompt's `edited`). */
export interface EditedTurn {
  turn: number;
  prompt: string;
  reply: Entry | null;
}

/** One message of what a model saw before a prompt. */
export interface Message {
  role: string;
  content: string;
}

/** What a vote or a judgment keeps of one column's reply, so the record stands alone. */
export interface ReplyRecord {
  name: string;
  model: string;
  settings: Record<string, unknown>;
  reply: string;
  id?: string;
  system_prompt?: string;
  /** the arena label ("Model A"...), null outside an arena */
  label?: string | null;
  turn?: number;
  prompt?: string;
  /** what the model saw before the prompt */
  history?: Message[];
  stats?: Stats;
  reasoning?: string | null;
  rendered_prompt?: string | null;
  /** batch runs: done | error | cancelled | timeout */
  status?: string;
}

/** A vote on one finished turn (`w.votes`). */
export interface Vote {
  conversation: string;
  turn: number;
  /** a column name, "tie" or "bad" */
  choice: string;
  prompt: string;
  columns: ReplyRecord[];
  outcome?: "best" | "tie" | "bad";
  winner?: string | null;
  /** cast while the arena hid the names */
  blind?: boolean;
  timestamp?: string | null;
}

/** A thumb up (+1) or down (-1) on one reply. */
export interface Thumb {
  conversation: string;
  turn: number;
  column: string;
  value: number;
  model?: string;
  settings?: Record<string, unknown>;
  label?: string | null;
  prompt?: string;
  reply?: string;
  timestamp?: string | null;
}

/** An LLM judge's verdict on one pair of replies, judged in both orders (`w.judgments`). */
export interface Judgment {
  conversation: string;
  turn: number;
  a: string;
  b: string;
  /** the raw verdict of each order (A/B, then B/A) */
  orders: ("A" | "B" | "C" | null)[];
  rationales: string[];
  judge: string;
  /** a or b (won in both orders), "tie", or null when the judge failed */
  verdict?: string | null;
  error?: string | null;
  prompt?: string;
  columns?: ReplyRecord[];
  labels?: Record<string, string | null>;
  blind?: boolean;
  /** mt-bench | custom */
  template?: string;
  /** widget | batch */
  source?: string;
  timestamp?: string | null;
  /** batch runs: the script's index */
  script?: number;
  /** batch runs: the sample's index */
  sample?: number;
}

/** What it takes to get a column's replies again (`w.manifest(column)`; Python side and files only). */
export interface Manifest {
  name: string;
  /** the model as the user named it */
  model: string;
  path?: string | null;
  /** the commit of the Hugging Face cache snapshot */
  hub_revision?: string | null;
  type?: string | null;
  family?: string | null;
  dtype?: string | null;
  quantization?: string | null;
  device_map?: unknown;
  tokenizer_path?: string | null;
  load_options?: Record<string, unknown>;
  settings?: Record<string, unknown>;
  seed?: number | null;
  think_tags?: string[] | null;
  keep_reasoning?: boolean | null;
  versions?: Record<string, string | null>;
  status?: string;
  error?: string | null;
  base_url?: string | null;
  server_model?: string | null;
}

/** A column in a saved comparison. */
export interface SavedColumn {
  name: string;
  model: string;
  settings: Record<string, unknown>;
  history: Entry[];
}

/** A saved comparison (`w.export("x.json")`, `ChatZooWidget.load`). */
export interface ComparisonDocument {
  format: "chatzoo-widget/comparison";
  version: 1;
  columns: SavedColumn[];
  votes: Vote[];
  exported_at?: string;
  system_prompt?: string;
  /** the conversation the histories belong to */
  conversation?: string | null;
  thumbs?: Thumb[];
  judgments?: Judgment[];
  /** Arena.state() */
  arena?: Record<string, unknown> | null;
  /** by column name; files only, never the browser */
  manifests?: Record<string, Manifest>;
}

/** One row of `to_dataframe()` (and a line of a .jsonl export): one reply. */
export interface TableRow {
  conversation: string | null;
  turn: number | null;
  column: string;
  label: string | null;
  model: string;
  settings: Record<string, unknown>;
  prompt: string;
  reply: string;
  new_tokens: number | null;
  prompt_tokens: number | null;
  time_to_first_token: number | null;
  tokens_per_second: number | null;
  total_time: number | null;
  finish_reason: string | null;
  /** mean log-probability per token (logprobs on) */
  mean_logprob: number | null;
  /** exp(-mean_logprob) */
  perplexity: number | null;
  error: string | null;
  /** the turn's choice */
  vote: string | null;
  /** this reply's part in it: best | worse | tie | bad */
  vote_result: string | null;
  thumb: number | null;
  /** current | alternative | edited | vote | thumb */
  source: string;
  reasoning: string | null;
  reasoning_tokens: number | null;
  rendered_prompt: string | null;
  continued_with: string | null;
}

/** One row of `run_batch()`'s DataFrame: one reply. */
export interface BatchRow {
  script: number;
  /** the data row's id: its `id` field, else its index in the data */
  id: number | string;
  prompt: string;
  turn: number;
  sample: number;
  column: string;
  model: string;
  settings: Record<string, unknown>;
  reply: string;
  new_tokens: number | null;
  prompt_tokens: number | null;
  time_to_first_token: number | null;
  tokens_per_second: number | null;
  total_time: number | null;
  finish_reason: string | null;
  /** mean log-probability per token (logprobs on) */
  mean_logprob: number | null;
  /** exp(-mean_logprob) */
  perplexity: number | null;
  /** done | error | cancelled | timeout */
  status: string;
  error: string | null;
}

/** A batch row of a run with a judge. */
export interface JudgedBatchRow {
  script: number;
  /** the data row's id: its `id` field, else its index in the data */
  id: number | string;
  prompt: string;
  turn: number;
  sample: number;
  column: string;
  model: string;
  settings: Record<string, unknown>;
  reply: string;
  new_tokens: number | null;
  prompt_tokens: number | null;
  time_to_first_token: number | null;
  tokens_per_second: number | null;
  total_time: number | null;
  finish_reason: string | null;
  /** mean log-probability per token (logprobs on) */
  mean_logprob: number | null;
  /** exp(-mean_logprob) */
  perplexity: number | null;
  /** done | error | cancelled | timeout */
  status: string;
  error: string | null;
  /** against each other column */
  judge_verdicts: Record<string, "win" | "loss" | "tie" | null>;
  /** (wins + ties / 2) / judged pairs */
  judge_score: number | null;
}

/** One check's result on one reply (`run_batch(checks=...)`'s `checks`, `w.check`). */
export interface CheckResult {
  /** the check's type (promptfoo's names; not-<type> inverted) */
  type: string;
  pass: boolean;
  score: number;
  reason: string;
  /** the named metric it counts towards */
  metric: string | null;
  weight: number;
  /** why the check could not run (a python check raised, a grader unreachable) */
  error: string | null;
  /** an assert-set's own checks */
  checks?: CheckResult[];
}

/** A batch row of a run with checks (the final turn of each row is checked). */
export interface CheckedBatchRow {
  script: number;
  /** the data row's id: its `id` field, else its index in the data */
  id: number | string;
  prompt: string;
  turn: number;
  sample: number;
  column: string;
  model: string;
  settings: Record<string, unknown>;
  reply: string;
  new_tokens: number | null;
  prompt_tokens: number | null;
  time_to_first_token: number | null;
  tokens_per_second: number | null;
  total_time: number | null;
  finish_reason: string | null;
  /** mean log-probability per token (logprobs on) */
  mean_logprob: number | null;
  /** exp(-mean_logprob) */
  perplexity: number | null;
  /** done | error | cancelled | timeout */
  status: string;
  error: string | null;
  /** every check passed (or the score reached the row's threshold); null: the reply did not finish, or an earlier turn of a script */
  pass: boolean | null;
  /** the checks' weighted mean score */
  score: number | null;
  checks: CheckResult[];
}

/** A model that scored the replies: columns sharing one loaded model score once, as one scorer. */
export interface CrossScorer {
  /** the first of its columns, left to right */
  name: string;
  /** every column that uses this model */
  columns: string[];
  /** 'cannot score: <why>' (a remote server that cannot score text, a scripted bot) */
  error: string | null;
}

/** One reply under one scoring model, by teacher forcing: the reply's text after the conversation the reply answered, in the scoring model's own prompt format. */
export interface CrossScore {
  scorer: string;
  /** the column whose reply was scored */
  reply: string;
  /** the reply's tokens in the scorer's vocabulary */
  tokens: number | null;
  /** mean natural log-probability per token */
  mean_logprob: number | null;
  /** the reply's log-probability: comparable across tokenizers */
  total_logprob: number | null;
  /** the reply's text was tokenised by the scorer (false: the ids its own model generated) */
  retokenised: boolean | null;
  error: string | null;
}

/** A piece of a reply (one token of the reference tokenizer) where the scoring models disagree most. */
export interface DisputedSpan {
  reply: string;
  /** character offset in the reply */
  start: number;
  end: number;
  text: string;
  /** per scorer (CrossScores.scorers order): the log-probability of these characters (each token's share, spread evenly over its characters) */
  logprobs: (number | null)[];
  /** largest minus smallest of `logprobs` */
  spread: number;
}

/** `w.cross_scores()`'s record: every local model scoring every column's reply to one turn. */
export interface CrossScores {
  conversation: string | null;
  /** index of the conversation's prompts */
  turn: number | null;
  scorers: CrossScorer[];
  /** the columns whose replies were scored, left to right */
  replies: string[];
  scores: CrossScore[];
  /** per reply, its most disputed spans, the largest spread first */
  disputed: DisputedSpan[];
}

/** One column's reply to one row of a batch run, as the results grid shows it. */
export interface GridCell {
  /** the row's final reply, whole (the grid truncates it) */
  reply: string;
  /** done | error | cancelled | timeout */
  status: string;
  error: string | null;
  /** null: no checks ran */
  pass: boolean | null;
  score: number | null;
  checks: CheckResult[];
}

/** One finished row of a batch run in the results grid (the widget's `grid_rows` messages). */
export interface GridRow {
  /** unique within the run: '<script>:<sample>' */
  key: string;
  /** the row's position in the data */
  script: number;
  sample: number;
  /** the data row's id */
  id: number | string;
  /** the prompt of the row's last turn */
  prompt: string;
  /** column name -> its reply */
  cells: Record<string, GridCell>;
}

/** One row of `Summary.columns`: a column's pass rate or mean score with its interval and method. */
export interface SummaryColumn {
  column: string;
  /** pass | score */
  measure: string;
  n: number;
  prompts: number;
  /** null: no value (see note) */
  estimate: number | null;
  lo: number | null;
  hi: number | null;
  method: string;
  note: string;
}

/** One row of `Summary.pairs`: two columns compared on the same rows, the test named, the verdict. */
export interface SummaryPair {
  /** pass | score | votes | judge */
  measure: string;
  a: string;
  b: string;
  n: number | null;
  prompts: number | null;
  estimate: number | null;
  estimate_of: string;
  lo: number | null;
  hi: number | null;
  interval_method: string;
  p_value: number | null;
  test: string;
  p_adjusted: number | null;
  correction: string;
  /** 'a > b', 'no detectable difference' or 'too few paired rows' */
  verdict: string;
  a_only: number | null;
  b_only: number | null;
  ties: number | null;
  /** null: not computed, or no number of prompts would tell them apart */
  prompts_needed: number | null;
  note: string;
}

/** `Summary.to_record()`: the statistics as JSON (NaN as null), what the widget's summary table draws. */
export interface SummaryRecord {
  columns: SummaryColumn[];
  pairs: SummaryPair[];
  method: Record<string, unknown>;
}

/** `w.check(...)`'s result for one column's reply, as the badges under that reply show it. */
export interface TurnCheck {
  pass: boolean;
  score: number;
  reason: string;
  checks: CheckResult[];
}
