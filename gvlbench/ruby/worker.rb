# frozen_string_literal: true

# gvlbench's Ruby worker: one task as JSON on stdin, one answer as JSON on stdout (the last
# line), the same protocol as `python -m gvlbench.worker` (docs/protocol.md). It measures
# Ruby's GVL over the same libwasmtime, the same compiled .wasm and the same host behaviours
# (by registry name) as the Python worker.
#
#   GVLBENCH_LIBWASMTIME=/path/to/_libwasmtime.so ruby worker.rb < task.json
#
# Kinds: bench (a pyperf-format benchmark; each run in a fresh child of this worker, as
# pyperf's worker processes), progress (sibling thread progress and overlap), race (threads
# hammering one Store or one each, optionally through the Store guard written in Ruby or the
# native one), guard-cost (what each guard costs a call), check (the verify checks, in
# checks.rb). A crash is no answer at all: the harness reads the signal.

require "json"
require "open3"
require "rbconfig"
require_relative "wasmtime"
require_relative "hosts"
require_relative "measure"
require_relative "checks"

module GvlbenchWorker
  PROTOCOL = 1
  STARTED_MARKER = "gvlbench-started-at:"

  module_function

  def main
    task = JSON.parse($stdin.read)
    raise ArgumentError, "unsupported protocol #{task['protocol'].inspect}" unless task["protocol"] == PROTOCOL

    kind = task["kind"]
    handler = { "bench" => :bench, "bench-run" => :bench_run, "progress" => :progress,
                "race" => :race, "guard-cost" => :guard_cost, "check" => :check }[kind]
    raise ArgumentError, "the Ruby worker does not do #{kind.inspect} tasks" unless handler

    answer({ "protocol" => PROTOCOL, "ok" => true, "kind" => kind }.merge(send(handler, task)), 0)
  rescue Exception => e # rubocop:disable Lint/RescueException: reported as data
    answer({ "protocol" => PROTOCOL, "ok" => false,
             "error" => { "type" => error_type(e), "message" => e.message } }, 1)
  end

  def answer(doc, code)
    $stdout.write("#{JSON.generate(doc)}\n")
    $stdout.flush
    exit!(code) # no at_exit finalisers racing threads that may still be inside Wasm
  end

  def error_type(exc)
    { GvlbenchWasm::Trap => "Trap", GvlbenchWasm::WasmError => "WasmtimeError" }
      .fetch(exc.class, exc.class.name.split("::").last)
  end

  def announce_start
    warn format("%s %.6f", STARTED_MARKER, Time.now.to_f)
  end

  # -- targets --------------------------------------------------------------------------

  Target = Struct.new(:wasm_path, :export, :args, :imports, :result, :trap, keyword_init: true) do
    def self.from_json(doc)
      expect = doc["expect"] || {}
      new(wasm_path: doc["wasm_path"], export: doc["export"], args: doc["args"],
          imports: doc["imports"] || [], result: expect["result"], trap: expect["trap"])
    end
  end

  # One Store with the target instantiated, and its export.
  class Embedding
    attr_reader :func, :context

    def initialize(engine, mod, target, mode, context = GvlbenchHosts::Context.new)
      @target, @mode, @context = target, mode, context
      hosts = target.imports.to_h do |i|
        [[i["module"], i["name"]], GvlbenchHosts.build(i["host"], context)]
      end
      @instance = GvlbenchWasm::Instance.new(engine, mod, hosts)
      @func = @instance.func(target.export)
    end

    def call
      @func.call(@mode, *@target.args)
    end

    # A call that checks the spec's expectation: a wrong result is an error, not a number.
    def checked_call
      result = begin
        call
      rescue GvlbenchWasm::Trap => e
        return if @target.trap && e.message.include?(@target.trap)

        raise
      end
      raise ExpectationError, "expected a trap (#{@target.trap}), got #{result.inspect}" if @target.trap
      if !@target.result.nil? && result != @target.result
        raise ExpectationError, "expected #{@target.result.inspect}, got #{result.inspect}"
      end

      result
    end

    # Another caller of the same Store (for the shared-Store race): its own buffers; `via`
    # GvlbenchNativeGuard for a call through the native Store guard.
    def new_caller(via = nil)
      func = @func.for_thread
      func.via = via
      target, mode = @target, @mode
      -> { func.call(mode, *target.args) }
    end

    # Put this Store under the native guard (native_guard.rb, loaded only when asked for), of
    # `design`: the owner word, or affinity (this thread is the owner) or the mutex.
    def guard_natively(name, design = "native")
      require_relative "native_guard"
      ptr = GvlbenchNativeGuard.guard(@instance, name)
      GvlbenchNativeGuard.redesign(ptr, design) unless design == "native"
      GvlbenchNativeGuard
    end
  end

  class ExpectationError < StandardError; end

  def embeddings(task, count, contexts = nil)
    target = Target.from_json(task["target"])
    engine = GvlbenchWasm::Engine.new
    mod = GvlbenchWasm::Module.new(engine, File.binread(target.wasm_path))
    Array.new(count) do |i|
      Embedding.new(engine, mod, target, task["mode"], contexts ? contexts[i] : GvlbenchHosts::Context.new)
    end
  end

  # -- bench ----------------------------------------------------------------------------

  # pyperf's manager, in Ruby: check once, calibrate loops so one value lasts min_time,
  # then `processes` fresh children each give one run (warmups, then values).
  def bench(task)
    opts = task["pyperf"]
    embs = embeddings(task, task["threads"])
    embs.each(&:checked_call)
    team = GvlbenchMeasure::ThreadTeam.new(embs.map { |e| -> { e.checked_call } })
    loops = opts["loops"].to_i.positive? ? opts["loops"] : GvlbenchMeasure.calibrate(team, opts["min_time"])
    team.close
    runs = Array.new(opts["processes"]) { spawn_run(task.merge("kind" => "bench-run", "loops" => loops)) }
    metadata = task["metadata"].merge(
      "name" => task["name"], "unit" => "second", "loops" => loops,
      "ruby_version" => RUBY_VERSION, "ruby_platform" => RUBY_PLATFORM,
      "timer" => "Process.clock_gettime(CLOCK_MONOTONIC)"
    )
    { "benchmark" => { "metadata" => metadata, "runs" => runs } }
  end

  def spawn_run(task)
    out, err, status = Open3.capture3(RbConfig.ruby, __FILE__, stdin_data: JSON.generate(task))
    $stderr.write(err)
    die_like(status.termsig) if status.signaled?
    doc = JSON.parse(out.lines.last || "{}")
    raise RunFailed, (doc.dig("error", "message") || "a run exited #{status.exitstatus}") unless doc["ok"]

    doc["run"]
  end

  class RunFailed < StandardError; end

  module LibC
    extend FFI::Library
    ffi_lib FFI::Library::LIBC
    attach_function :signal, %i[int pointer], :pointer
    attach_function :c_raise, :raise, [:int], :int
  end

  # Die of the signal a run died of, so the harness reads the same signal. Through libc, with
  # the default action restored first: Ruby's own handlers would turn a SIGSEGV into an abort
  # and a SIGTERM into an exception.
  def die_like(signo)
    $stderr.flush
    LibC.signal(signo, FFI::Pointer::NULL) # SIG_DFL
    LibC.c_raise(signo)
    sleep 1
    exit!(128 + signo)
  end

  def bench_run(task)
    opts = task["pyperf"]
    loops = task["loops"]
    embs = embeddings(task, task["threads"])
    embs.each(&:checked_call)
    team = GvlbenchMeasure::ThreadTeam.new(embs.map { |e| -> { e.checked_call } })
    started = Time.now
    warmups = Array.new(opts["warmups"]) { [loops, team.run(loops) / loops] }
    values = Array.new(opts["values"]) { team.run(loops) / loops }
    team.close
    { "run" => { "metadata" => { "date" => started.strftime("%Y-%m-%dT%H:%M:%S.%6N"),
                                 "duration" => Time.now - started, "loops" => loops },
                 "warmups" => warmups, "values" => values } }
  end

  # -- progress -------------------------------------------------------------------------

  def progress(task)
    sibling = GvlbenchMeasure::Sibling.new
    ctx = GvlbenchHosts::Context.new(-> { sibling.count })
    emb = embeddings(task, 1, [ctx]).first
    emb.checked_call
    samples = begin
      GvlbenchMeasure.progress(-> { emb.checked_call }, ctx.marks, sibling, task["repeats"])
    ensure
      sibling.stop
    end
    marks = task["target"]["imports"].any? { |i| i["host"] == "mark" }
    doc = { "via" => marks ? "host mark" : "around the call", "samples" => samples }
    threads = task["overlap_threads"].to_i
    if threads > 1
      embs = embeddings(task, threads)
      embs.each(&:checked_call)
      doc["overlap_threads"] = threads
      doc["overlap"] = GvlbenchMeasure.overlap(embs.map { |e| -> { e.checked_call } }, task["repeats"])
    end
    doc
  end

  # -- race -----------------------------------------------------------------------------

  REFUSAL_BACKOFF_S = 0.001

  def race(task)
    # the entry-point races race wasmtime-py's own bindings (worker/entry_race.py)
    raise ArgumentError, "the Ruby worker does not do entry-point races" unless task["entry"].to_s.empty?

    calls = race_calls(task)
    n = calls.size
    tallies = Array.new(n) { { calls: 0, refused: 0, exceptions: Hash.new(0), examples: {} } }
    stop = false
    announce_start # before the first thread: it may crash the process before we run again
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    threads = calls.zip(tallies).each_with_index.map do |(c, t), i|
      Thread.new do
        Thread.current.name = "gvlbench-#{i}"
        hammer(c, t) { stop }
      end
    end
    sleep task["duration_s"]
    stop = true
    threads.each(&:join)
    exceptions = Hash.new(0)
    examples = {}
    tallies.each do |t|
      t[:exceptions].each { |k, v| exceptions[k] += v }
      examples.merge!(t[:examples])
    end
    { "elapsed_s" => Process.clock_gettime(Process::CLOCK_MONOTONIC) - started,
      "calls" => tallies.sum { |t| t[:calls] }, "refused" => tallies.sum { |t| t[:refused] },
      "exceptions" => exceptions, "examples" => examples }
  end

  # Each thread's call: plain, through the Ruby StoreGuard, or through the native guard of the
  # task's design (a task without "guard_kind" means the Ruby guard, as before the native one).
  def race_calls(task)
    n = task["threads"]
    design = task["guard_kind"]
    native = task["guard"] && NATIVE_DESIGNS.include?(design)
    if task["store"] == "shared"
      emb = embeddings(task, 1).first
      via = native ? emb.guard_natively("store-0", design) : nil
      calls = Array.new(n) { emb.new_caller(via) }
      guards = [GvlbenchHosts::StoreGuard.new("store-0")] * n
    else
      embs = embeddings(task, n)
      calls = embs.each_with_index.map { |e, i| e.new_caller(native ? e.guard_natively("store-#{i}", design) : nil) }
      guards = Array.new(n) { |i| GvlbenchHosts::StoreGuard.new("store-#{i}") }
    end
    return calls if native || !task["guard"]

    calls.zip(guards).map { |c, g| -> { g.enter { c.call } } }
  end

  # -- guard-cost -----------------------------------------------------------------------

  BATCH_S = 0.01

  # harness/guard_cost.py's measurement in Ruby: batches of the unguarded operation and of
  # each guarded one in turn, the order reversed every other round, one Store, one thread.
  # The native designs share one guard whose design is changed before each of their batches.
  NATIVE_DESIGNS = %w[native affinity mutex].freeze

  def guard_cost(task)
    variants = task.fetch("entry", "call") == "call" ? call_variants(task) : accessor_variants(task)
    plain = variants["unguarded"][1]
    loops = 1
    loops *= 2 while batch_ns(plain, loops) * loops < BATCH_S * 1e9
    variants.each_value { |setup, op| setup&.call; batch_ns(op, loops) } # warm-up
    samples = variants.keys.to_h { |k| [k, []] }
    task["rounds"].times do |r|
      (r.even? ? variants.keys : variants.keys.reverse).each do |k|
        setup, op = variants[k]
        setup&.call
        samples[k] << batch_ns(op, loops)
      end
    end
    { "loops" => loops, "unguarded_ns" => samples.delete("unguarded"), "guarded_ns" => samples }
  end

  # variant name => [what to do before its batch (or nil), the operation]
  def call_variants(task)
    emb = embeddings(task, 1).first
    emb.checked_call
    variants = { "unguarded" => [nil, emb.new_caller] }
    if task["guards"].include?("python")
      guard = GvlbenchHosts::StoreGuard.new("store-0")
      plain = emb.new_caller
      variants["python"] = [nil, -> { guard.enter { plain.call } }]
    end
    natives = task["guards"] & NATIVE_DESIGNS
    return variants if natives.empty?

    via = emb.guard_natively("store-0")
    call = emb.new_caller(via)
    ptr = GvlbenchNativeGuard::NAMES.key("store-0")
    natives.each { |d| variants[d] = [-> { GvlbenchNativeGuard.redesign(FFI::Pointer.new(ptr), d) }, call] }
    variants
  end

  def accessor_variants(task)
    require_relative "entries"
    kind = task["entry"]
    natives = task["guards"] & NATIVE_DESIGNS
    # the shim: for its designs, and for the memory copies (unguarded too)
    require_relative "native_guard" if natives.any? || %w[memory.read memory.write].include?(kind)
    store = GvlbenchEntries::EntryStore.new(task["target"]["wasm_path"])
    plain = GvlbenchEntries.operation(store, kind, nil)
    variants = { "unguarded" => [nil, plain] }
    if task["guards"].include?("python")
      guard = GvlbenchHosts::StoreGuard.new("store-0")
      variants["python"] = [nil, -> { guard.enter { plain.call } }]
    end
    unless natives.empty?
      ptr = GvlbenchNativeGuard.gvlbench_guard_new(store.context)
      GvlbenchNativeGuard::NAMES[ptr.address] = "store-0"
      op = GvlbenchEntries.operation(store, kind, GvlbenchNativeGuard)
      natives.each { |d| variants[d] = [-> { GvlbenchNativeGuard.redesign(ptr, d) }, op] }
    end
    expected = plain.call
    variants.each do |name, (setup, op)| # each guarded operation still answers right
      setup&.call
      got = op.call
      raise "#{kind} through #{name} gave #{got.inspect}, unguarded #{expected.inspect}" unless got == expected
    end
    variants
  end

  def batch_ns(call, loops)
    start = Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)
    i = 0
    while i < loops
      call.call
      i += 1
    end
    (Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond) - start).fdiv(loops)
  end

  def hammer(call, tally)
    until yield
      begin
        call.call
        tally[:calls] += 1
      rescue GvlbenchHosts::StoreInUseError => e
        sleep REFUSAL_BACKOFF_S # back off as a real caller would; spinning starves the owner
        tally[:refused] += 1
        count(tally, "StoreInUseError", e)
      rescue StandardError => e
        count(tally, error_type(e), e)
      end
    end
  end

  def count(tally, name, exc)
    tally[:exceptions][name] += 1
    tally[:examples][name] ||= exc.message[0, 300]
  end

  def check(task)
    GvlbenchChecks.run(task)
  end
end

GvlbenchWorker.main if $PROGRAM_NAME == __FILE__
