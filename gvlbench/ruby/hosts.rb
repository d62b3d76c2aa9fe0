# frozen_string_literal: true

# The registry of host behaviours, in Ruby: the same names, signatures and meaning as
# gvlbench/hosts.py (a scenario names a behaviour; no code comes from a spec). Every one is a
# Ruby block, so every callback re-takes the GVL, whatever the call's mode.

require "ffi"
require "monitor"

module GvlbenchHosts
  class HostError < StandardError; end

  # What behaviours read and record, one per Store: the sibling's counter, and the marks
  # ([which, counter, seconds]) that `mark` collects.
  class Context
    attr_reader :counter, :marks

    def initialize(counter = -> { 0 })
      @counter = counter
      @marks = []
    end
  end

  module LibC
    extend FFI::Library
    ffi_lib FFI::Library::LIBC
    attach_function :abort, [], :void
  end

  BEHAVIOURS = {
    "mark" => lambda { |ctx|
      lambda { |which|
        value = ctx.counter.call # first: this is the instant the spec measures
        ctx.marks << [which, value, Process.clock_gettime(Process::CLOCK_MONOTONIC)]
        nil
      }
    },
    "add_one" => ->(_ctx) { ->(x) { x + 1 } },
    "nop" => ->(_ctx) { -> { nil } },
    "raise" => ->(_ctx) { ->(x) { raise HostError, "host raised for #{x}" } },
    "abort" => ->(_ctx) { -> { LibC.abort } },
    "gc_collect" => ->(_ctx) { -> { GC.start } },
    "wrong_arity" => ->(_ctx) { ->(x) { [x, x] } }
  }.freeze

  def self.build(name, ctx)
    BEHAVIOURS.fetch(name) { raise ArgumentError, "unknown host behaviour #{name.inspect}" }.call(ctx)
  end

  # A Store entered by one thread at a time; a second thread is refused at once with a
  # recoverable StoreInUseError naming the Store and both threads (gvlbench/guard.py's twin).
  class StoreInUseError < StandardError; end

  class StoreGuard
    attr_reader :name

    def initialize(name)
      @name = name
      @lock = Monitor.new
      @owner = nil
    end

    def enter(operation = "a call")
      unless @lock.try_enter
        owner = @owner
        raise StoreInUseError,
              "store #{@name.inspect} is in use by thread #{owner&.name || owner.inspect}; " \
              "thread #{Thread.current.name.inspect} was refused #{operation}"
      end
      begin
        @owner = Thread.current
        yield
      ensure
        @lock.exit
      end
    end
  end
end
