# frozen_string_literal: true

# Finding (gvlbench issue 7): with the GVL *held* for a whole Wasm call, a CPU-bound sibling
# Ruby thread still gets a turn inside the call once the call outlasts Ruby's 100 ms thread
# quantum: the sibling, waiting for the GVL, asks the holder to yield, and the holder does so
# at its next host callback, before the callback's first line runs. Measured here (spin of N
# between two `mark` callbacks, Ruby 3.1.2, ruby-ffi 1.15.5): a 75 ms call, no turn; a 150 ms
# call, the sibling runs ~50 ms inside it (progress 0.25); a 450 ms call, ~65 ms (0.13).
# Python does the same after its 5 ms switch interval (progress ~0.03 for a 150 ms call).
# So "held" stops a sibling only between callbacks, and for at most a quantum.
#
#   path=$(gvlbench compile wat/mark.wat | awk '{print $2}')
#   GVLBENCH_LIBWASMTIME=$(python -c 'import wasmtime._ffi as f; print(f.filename)') \
#     ruby docs/findings/ruby_held_callback_slice.rb "$path" [iterations, default 400000000]
#
# Prints, per call, the sibling's progress (in seconds of its solo rate) and the time at each
# callback's entry and exit: "m1.in sibling=0.05s" although the GVL was never released.

require_relative "../../gvlbench/ruby/worker"

log = []
behaviour = lambda do |ctx|
  lambda do |which|
    log << [which, :in, ctx.counter.call, GvlbenchMeasure.now]
    log << [which, :out, ctx.counter.call, GvlbenchMeasure.now]
    nil
  end
end
target = { "wasm_path" => ARGV.fetch(0), "export" => "run", "args" => [Integer(ARGV.fetch(1, "400000000"))],
           "imports" => [{ "module" => "host", "name" => "mark", "host" => "mark" }] }
GvlbenchHosts.send(:remove_const, :BEHAVIOURS)
GvlbenchHosts.const_set(:BEHAVIOURS, { "mark" => behaviour })
sibling = GvlbenchMeasure::Sibling.new
ctx = GvlbenchHosts::Context.new(-> { sibling.count })
emb = GvlbenchWorker.embeddings({ "target" => target, "mode" => "held" }, 1, [ctx]).first
emb.call
3.times do
  alone = sibling.rate_alone(0.1)
  log.clear
  emb.call
  c0, t0 = log[0][2], log[0][3]
  puts(log.map { |w, io, c, t| format("m%d.%s sibling=%.3fs t=%.3fs", w, io, (c - c0) / alone, t - t0) }
          .join(" | "))
end
sibling.stop
