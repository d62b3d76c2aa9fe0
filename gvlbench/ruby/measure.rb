# frozen_string_literal: true

# Timing for the Ruby worker: the same measurements as gvlbench/measure.py.

module GvlbenchMeasure
  def self.now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  def self.cpu
    Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
  end

  # N parked threads, each running its own call `loops` times per round.
  class ThreadTeam
    def initialize(calls)
      @go = calls.map { Queue.new }
      @done = Queue.new
      @threads = calls.each_with_index.map do |call, i|
        Thread.new do
          Thread.current.name = "gvlbench-#{i}"
          while (loops = @go[i].pop)
            begin
              loops.times { call.call }
              @done << nil
            rescue Exception => e # rubocop:disable Lint/RescueException: re-raised by run
              @done << e
            end
          end
        end
      end
    end

    # Seconds for one round: every thread makes `loops` calls; raises a thread's error.
    def run(loops)
      start = GvlbenchMeasure.now
      @go.each { |q| q << loops }
      errors = Array.new(@go.size) { @done.pop }.compact
      elapsed = GvlbenchMeasure.now - start
      raise errors.first unless errors.empty?

      elapsed
    end

    def close
      @go.each { |q| q << nil }
      @threads.each(&:join)
    end
  end

  # pyperf's calibration: double the loops until one round lasts min_time.
  def self.calibrate(team, min_time)
    loops = 1
    loops *= 2 while team.run(loops) < min_time && loops < 2**30
    loops
  end

  # A pure-Ruby thread that does nothing but count, needing the GVL for every step.
  class Sibling
    def initialize
      @count = 0
      @stop = false
      @thread = Thread.new do
        Thread.current.name = "gvlbench-sibling"
        @count += 1 until @stop
      end
    end

    def count
      @count
    end

    def rate_alone(window_s)
      c0, t0 = @count, GvlbenchMeasure.now
      sleep window_s
      (@count - c0) / (GvlbenchMeasure.now - t0)
    end

    def stop
      @stop = true
      @thread.join
    end
  end

  # `repeats` calls, each with a fresh baseline window just before it; the window is the
  # Wasm work between mark 0 and mark 1 when the module imports `mark`, else the call.
  def self.progress(call, marks, sibling, repeats, window_s = 0.1)
    Array.new(repeats) do
      alone = sibling.rate_alone(window_s)
      marks.clear
      c0, t0 = sibling.count, now
      call.call
      c1, t1 = sibling.count, now
      first = marks.find { |m| m[0].zero? }
      last = marks.reverse.find { |m| m[0] == 1 }
      (_, c0, t0), (_, c1, t1) = first, last if first && last
      during = t1 > t0 ? (c1 - c0) / (t1 - t0) : 0.0
      { "ratio" => alone.positive? ? during / alone : 0.0, "call_s" => t1 - t0,
        "rate_alone_per_s" => alone }
    end
  end

  # Per round, every thread makes one call at once: (sum(c) - W) / (sum(c) - max(c)),
  # clamped to 0..1, from the threads' CPU times c and the round's wall time W.
  def self.overlap(calls, rounds)
    cpu = Array.new(calls.size, 0.0)
    timed = calls.each_with_index.map do |call, i|
      lambda {
        c0 = GvlbenchMeasure.cpu
        call.call
        cpu[i] = GvlbenchMeasure.cpu - c0
      }
    end
    team = ThreadTeam.new(timed)
    ratios = Array.new(rounds) { fraction(cpu, team.run(1)) }
    team.close
    ratios
  end

  def self.fraction(cpu, wall)
    total, longest = cpu.sum, cpu.max
    return 0.0 if wall <= 0 || total <= longest

    ((total - wall) / (total - longest)).clamp(0.0, 1.0)
  end
end
