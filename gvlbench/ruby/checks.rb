# frozen_string_literal: true

# The verify checks in Ruby: gvlbench/checks.py's checks, by the same names and meaning, run
# against Ruby's GVL through this worker's ruby-ffi binding (the analogue of wasmtime-rb's
# `gvl: false`). The harness compiles each check's module (checks.py holds the WAT) and sends
# the .wasm paths in the task's "modules". Each check raises CheckFailed with what it saw;
# each has a sabotage (a deliberate break) so the tests can prove it can fail.
#
# GC stress, Ruby's way: callbacks allocate and run GC.start often, and every callback can
# switch threads (the GVL is re-taken for it). Ruby has no knob for its thread quantum.

module GvlbenchChecks
  class CheckFailed < StandardError; end

  class HostError < StandardError
    attr_reader :who

    def initialize(who)
      super("host raised for #{who}")
      @who = who
    end
  end

  PROGRESS_THRESHOLD = 0.25 # as in checks.py
  # About 25 ms of Wasm here (checks.py's 300M is ~0.1 s). Ruby, unlike Python, lets a thread
  # that has waited a whole 100 ms quantum for the GVL in at the held call's next callback
  # (docs/findings/ruby_held_callback_slice.rb), so a held call near 100 ms measures that slice,
  # not the lock; well under the quantum, held means held.
  LOCK_CALL_ITERATIONS = 75_000_000
  HELD_TRIES = 3
  LIMIT_PAGES = 4

  # What a check runs with: mode, threads, sabotage, the compiled modules, and notes.
  class Context
    attr_reader :mode, :threads, :sabotage, :notes

    def initialize(task, mode = task["mode"], sabotage = task["sabotage"], notes = [])
      @task, @mode, @threads, @sabotage, @notes = task, mode, task["threads"], sabotage, notes
    end

    # The sabotage of the lock checks: the other lock discipline than the one asked for.
    def other_discipline
      return self unless @sabotage

      Context.new(@task, @mode == "held" ? "released" : "held", false, @notes)
    end

    # A fresh Store with the named module; hosts: { "module.name" => callable }.
    def instance(name, hosts = {}, engine: nil, memory_limit_bytes: nil)
      engine ||= GvlbenchWasm::Engine.new
      mod = GvlbenchWasm::Module.new(engine, File.binread(@task["modules"].fetch(name)))
      bound = hosts.to_h { |key, fn| [key.split("."), fn] }
      GvlbenchWasm::Instance.new(engine, mod, bound, memory_limit_bytes: memory_limit_bytes)
    end
  end

  module_function

  def all_at_once(count, &body)
    ready = Queue.new
    go = Queue.new
    threads = Array.new(count) do |i|
      Thread.new do
        Thread.current.name = "check-#{i}"
        Thread.current.report_on_exception = false
        ready << true
        go.pop
        body.call(i)
      end
    end
    count.times { ready.pop }
    count.times { go << true }
    threads.map(&:value) # re-raises the first thread's error
  end

  def f32(value)
    [value].pack("e").unpack1("e")
  end

  def check_results(ctx)
    inst = ctx.instance("ARITH")
    cases = [
      ["add_i32", [2, 3], 5], ["add_i32", [2**31 - 1, 1], -(2**31)], ["add_i32", [-7, 2], -5],
      ["add_i64", [2, 3], 5], ["add_i64", [2**63 - 1, 1], -(2**63)],
      ["add_f32", [1.5, 2.25], 3.75], ["add_f32", [0.1, 0.2], f32(f32(0.1) + f32(0.2))],
      ["add_f64", [2.0, 3.0], 5.0], ["add_f64", [0.1, 0.2], 0.1 + 0.2]
    ]
    wrong = cases.filter_map do |export, args, want|
      got = inst.func(export).call(ctx.mode, *args)
      got += 1 if ctx.sabotage && got.is_a?(Integer) # a binding off by one
      "#{export}#{args} = #{got.inspect}, want #{want.inspect}" unless got == want
    end
    raise CheckFailed, wrong.join("; ") unless wrong.empty?
  end

  def check_lock_released(ctx)
    released = ctx.mode == "released"
    ctx = ctx.other_discipline
    # Held: up to HELD_TRIES calls, the least progress kept. A busy machine can stretch one
    # held call past Ruby's 100 ms quantum, and then the sibling's one turn at its callback
    # is Ruby's design (docs/ruby.md), not the lock; a call that releases lets the sibling
    # run through every try.
    ratio = (released ? 1 : HELD_TRIES).times.map { lock_progress(ctx) }.min
    ctx.notes << format("sibling progress %.3f", ratio)
    if released && ratio < PROGRESS_THRESHOLD
      raise CheckFailed, format("released, yet the sibling advanced only %.3f of its solo rate", ratio)
    end
    return unless !released && ratio >= PROGRESS_THRESHOLD

    raise CheckFailed, format("held, yet the sibling advanced %.3f of its solo rate", ratio)
  end

  # The sibling's rate between the call's two marks over its rate alone.
  def lock_progress(ctx)
    sibling = GvlbenchMeasure::Sibling.new
    marks = []
    begin
      mark = ->(_k) { marks << [sibling.count, GvlbenchMeasure.now] }
      inst = ctx.instance("MARK", { "host.mark" => mark })
      run = inst.func("run")
      run.call(ctx.mode, 1000)
      alone = sibling.rate_alone(0.1)
      marks.clear
      run.call(ctx.mode, LOCK_CALL_ITERATIONS)
    ensure
      sibling.stop
    end
    (c0, t0), (c1, t1) = marks
    (c1 - c0) / (t1 - t0) / alone
  end

  def check_callback(ctx)
    seen = []
    add = lambda { |x|
      seen << Thread.current
      x + (ctx.sabotage ? 2 : 1)
    }
    got = ctx.instance("CALLBACK", { "host.add" => add }).func("run").call(ctx.mode, 1_000_000)
    raise CheckFailed, "run() = #{got.inspect}, want 42" unless got == 42
    raise CheckFailed, "the callback ran #{seen.size} time(s), not once on the caller" unless seen == [Thread.current]
  end

  def check_callbacks_concurrent(ctx)
    wrong = all_at_once(ctx.threads) do |i|
      add = lambda { |x|
        Array.new(8) { Object.new } # garbage for the collector
        GC.start if (x % 50).zero?
        x + (ctx.sabotage && i.zero? ? 2 : 1)
      }
      run = ctx.instance("CALLBACKS", { "host.add" => add }).func("run")
      Array.new(5) { run.call(ctx.mode, 200) }.reject { |got| got == 20_100 }
                                                .map { |got| "thread #{i}: run(200) = #{got}, want 20100" }
    end.flatten
    raise CheckFailed, wrong.first(3).join("; ") unless wrong.empty?
  end

  def check_exception(ctx)
    token = "boom-#{Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)}"
    raised_at = nil
    raising = lambda { |_x|
      next 0 if ctx.sabotage # a host wrapper that swallows the exception

      raised_at = "#{__FILE__}:#{__LINE__ + 1}:"
      raise HostError, token
    }
    got = ctx.instance("RAISING", { "host.f" => raising }).func("run").call(ctx.mode, 1)
    raise CheckFailed, "no exception; the call returned #{got.inspect}"
  rescue HostError => e
    raise CheckFailed, "message #{e.message.inspect}, want #{token.inspect}" unless e.message == "host raised for #{token}"
    # The innermost frame must be the raise itself, not a binding's re-raise (by file and
    # line: the frame's wording changes between Ruby versions). backtrace, not
    # backtrace_locations: a re-raise's set_backtrace changes only the former.
    return if raised_at && e.backtrace&.first&.start_with?(raised_at)

    raise CheckFailed, "the backtrace does not start at the callback's frame: #{e.backtrace&.first(3)}"
  rescue CheckFailed
    raise
  rescue Exception => e # rubocop:disable Lint/RescueException
    raise CheckFailed, "got #{e.class}: #{e.message}, want HostError"
  end

  WRONG_ARITY = {
    "one result declared, two returned" => ["ARITY_1", ->(x) { [x, x] }],
    "two results declared, one returned" => ["ARITY_2", ->(x) { x }]
  }.freeze

  def check_wrong_arity(ctx)
    unclear = WRONG_ARITY.filter_map do |name, (mod, fn)|
      fn = ->(x) { mod == "ARITY_2" ? [x, x] : x } if ctx.sabotage # always what it declared
      ctx.instance(mod, { "host.f" => fn }).func("run").call(ctx.mode, 1)
      "#{name}: no error at all"
    rescue StandardError => e
      "#{name}: #{e.class}: #{e.message}" unless e.message.downcase.include?("result")
    end
    raise CheckFailed, unclear.join("; ") unless unclear.empty?
  end

  def check_trap(ctx)
    ctx.instance("TRAP").func(ctx.sabotage ? "nop" : "trap").call(ctx.mode)
    raise CheckFailed, "no trap: the call returned normally"
  rescue GvlbenchWasm::Trap => e
    raise CheckFailed, "trap code #{e.code.inspect}, want :unreachable" unless e.code == :unreachable
    raise CheckFailed, "trap message #{e.message.inspect} does not say unreachable" unless e.message.include?("unreachable")
  end

  def check_exceptions_concurrent(ctx)
    per_thread = all_at_once(ctx.threads) do |_i|
      me = Thread.current
      raising = ->(_x) { raise HostError, (ctx.sabotage ? nil : me) }
      run = ctx.instance("RAISING", { "host.f" => raising }).func("run")
      Array.new(200) do
        run.call(ctx.mode, 1)
        GC.start if rand < 0.05
        "no exception"
      rescue HostError => e
        e.who.equal?(me) ? nil : "another thread's exception"
      rescue Exception => e # rubocop:disable Lint/RescueException
        e.class.name
      end.compact
    end
    bad = per_thread.flatten
    return if bad.empty?

    seen = bad.tally.sort.map { |k, n| "#{n}x #{k}" }.join(", ")
    raise CheckFailed, "#{bad.size} of #{200 * ctx.threads} calls got the wrong outcome: #{seen}"
  end

  # Ruby's BaseException-likes: Interrupt (Ctrl-C) and SystemExit.
  def check_base_exception(ctx)
    [[Interrupt, -> { Interrupt.new("kbd") }], [SystemExit, -> { SystemExit.new(3) }]].each do |klass, make|
      raising = lambda { |_x|
        raise "wrapped" if ctx.sabotage # a host layer that converts what it catches

        raise make.call
      }
      begin
        ctx.instance("RAISING", { "host.f" => raising }).func("run").call(ctx.mode, 1)
        raise CheckFailed, "no exception, want #{klass}"
      rescue klass => e
        want = klass == SystemExit ? 3 : nil
        raise CheckFailed, "SystemExit status #{e.status}, want 3" if want && e.status != want
      rescue CheckFailed
        raise
      rescue Exception => e # rubocop:disable Lint/RescueException
        raise CheckFailed, "got #{e.class}, want #{klass}"
      end
    end
  end

  # A Ruby watchdog thread stops a runaway call with epoch interruption (released). Held,
  # the watchdog cannot run while the call is in Wasm: the bounded runaway completes.
  def check_interrupt(ctx)
    mode = ctx.mode
    ctx = ctx.other_discipline
    engine = GvlbenchWasm::Engine.new(epoch_interruption: true)
    inst = ctx.instance("SPIN", engine: engine)
    inst.set_epoch_deadline(1)
    spin = inst.func("spin")
    fired = []
    start = GvlbenchMeasure.now
    watchdog = Thread.new do
      sleep 0.05
      fired << GvlbenchMeasure.now
      engine.increment_epoch
    end
    outcome = begin
      spin.call(ctx.mode, 600_000_000)
      "returned"
    rescue GvlbenchWasm::Trap => e
      e.code == :interrupt ? "interrupted" : e.message.lines.first.strip
    end
    finish = GvlbenchMeasure.now
    watchdog.join
    ctx.notes << format("%s after %.2f s; the watchdog woke %.2f s after the call began",
                        outcome, finish - start, fired.first - start)
    raise CheckFailed, "released: the watchdog did not stop the call (#{outcome})" if mode == "released" && outcome != "interrupted"
    raise CheckFailed, "held: a Ruby watchdog got in during the call (#{outcome})" if mode == "held" && outcome != "returned"
  end

  def check_limits(ctx)
    wrong = all_at_once(ctx.threads) do |i|
      limit = ctx.sabotage ? nil : LIMIT_PAGES * 65_536
      inst = ctx.instance("GROW", memory_limit_bytes: limit)
      grow1 = inst.func("grow1")
      got = Array.new(10) { grow1.call(ctx.mode) }
      want = [*1...LIMIT_PAGES, *[-1] * (10 - LIMIT_PAGES + 1)]
      problems = got == want ? [] : ["thread #{i}: grow results #{got}, want #{want}"]
      mem = inst.memory("mem")
      begin
        mem.grow(1)
        problems << "thread #{i}: the host's memory grow passed the limit"
      rescue GvlbenchWasm::WasmError
        nil
      end
      problems << "thread #{i}: #{mem.size} pages, limit #{LIMIT_PAGES}" if mem.size != LIMIT_PAGES
      problems
    end.flatten
    raise CheckFailed, wrong.first(3).join("; ") unless wrong.empty?
  end

  CHECKS = {
    "results" => :check_results, "lock-released" => :check_lock_released,
    "callback" => :check_callback, "callbacks-concurrent" => :check_callbacks_concurrent,
    "exception" => :check_exception, "wrong-arity" => :check_wrong_arity, "trap" => :check_trap,
    "exceptions-concurrent" => :check_exceptions_concurrent,
    "base-exception" => :check_base_exception, "interrupt" => :check_interrupt,
    "limits" => :check_limits
  }.freeze

  # The child's side: run one check `repeat` times and count the failures.
  def run(task)
    check = CHECKS.fetch(task["check"]) { raise ArgumentError, "unknown check #{task['check'].inspect}" }
    failures = []
    notes = []
    failed = 0
    start = GvlbenchMeasure.now
    task["repeat"].times do
      ctx = Context.new(task)
      begin
        send(check, ctx)
      rescue CheckFailed => e
        failed += 1
        failures << e.message if failures.size < 5
      end
      notes = ctx.notes unless ctx.notes.empty?
    end
    { "check" => task["check"], "mode" => task["mode"], "repeat" => task["repeat"],
      "failed" => failed, "failures" => failures, "notes" => notes,
      "elapsed_s" => GvlbenchMeasure.now - start }
  end
end
