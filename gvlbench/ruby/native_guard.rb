# frozen_string_literal: true

# The native Store guard from Ruby: gvlbench/native/guard.c over ruby-ffi, the twin of
# gvlbench/binding/native_guard.py. The shim's `gvlbench_func_call` has wasmtime_func_call's
# signature, so it is attached the same two ways: plainly (held: the GVL stays held for the
# guarded call) and with `blocking: true` (released: ruby-ffi drops the GVL around the whole
# guarded call, the compare-and-swap included). A Func routed `via` this module calls through
# it; a refused call comes back as a wasmtime error and is raised as the Ruby guard's
# StoreInUseError, naming the Store and both threads.

require "ffi"
require_relative "wasmtime"
require_relative "hosts"

module GvlbenchNativeGuard
  extend FFI::Library
  LIBRARY = File.expand_path("../native/libgvlguard.so", __dir__)
  ffi_lib LIBRARY

  attach_function :gvlbench_guard_init, [:string], :int
  attach_function :gvlbench_guard_new, [:pointer], :pointer
  attach_function :gvlbench_guard_set_kind, %i[pointer int], :int
  attach_function :gvlbench_take_refusal, [:pointer], :long
  # the accessors guarded (entries.rb), attached as ruby-ffi attaches a short function: the
  # GVL held; and the shim's memory copy, guarded and plain (a native binding's Memory#read)
  attach_function :gvlbench_wasmtime_memory_size, %i[pointer pointer], :uint64
  attach_function :gvlbench_wasmtime_global_get, %i[pointer pointer pointer], :void
  attach_function :gvlbench_wasmtime_global_set, %i[pointer pointer pointer], :pointer
  attach_function :gvlbench_wasmtime_table_get, %i[pointer pointer uint64 pointer], :bool
  attach_function :gvlbench_wasmtime_context_get_fuel, %i[pointer pointer], :pointer
  attach_function :gvlbench_wasmtime_context_set_fuel, %i[pointer uint64], :pointer
  attach_function :gvlbench_memory_read, %i[pointer pointer uint64 pointer size_t], :pointer
  attach_function :gvlbench_memory_write, %i[pointer pointer uint64 pointer size_t], :pointer
  attach_function :gvlbench_plain_memory_read, %i[pointer pointer uint64 pointer size_t], :pointer
  attach_function :gvlbench_plain_memory_write, %i[pointer pointer uint64 pointer size_t], :pointer

  # the designs, by the number guard.c knows them by (designs.py)
  DESIGNS = { "native" => 0, "affinity" => 1, "mutex" => 2 }.freeze
  attach_function :func_call_held, :gvlbench_wasmtime_func_call, GvlbenchWasm::CALL_ARGS, :pointer
  attach_function :func_call_released, :gvlbench_wasmtime_func_call, GvlbenchWasm::CALL_ARGS, :pointer,
                  blocking: true

  # the very library GvlbenchWasm loaded: the shim looks every entry point up in it
  missing = gvlbench_guard_init(ENV.fetch("GVLBENCH_LIBWASMTIME"))
  raise LoadError, "native guard: libwasmtime lacks #{missing} entry points" unless missing.zero?

  NAMES = {} # guard address -> the Store's name, for refusal messages

  module_function

  # Guard the Store of `instance` (an Instance's context): calls through this module take its
  # owner word from now on.
  def guard(instance, name)
    ptr = gvlbench_guard_new(instance.context)
    raise GvlbenchWasm::WasmError, "the native guard's table of Stores is full" if ptr.null?

    NAMES[ptr.address] = name
    ptr
  end

  # Another design for the guard `ptr`, from this thread (affinity's owner): for pricing
  # every design on one Store in turn, while no thread is inside it.
  def redesign(ptr, design)
    raise ArgumentError, "unknown design #{design}" unless gvlbench_guard_set_kind(ptr, DESIGNS.fetch(design)).zero?
  end

  # GvlbenchWasm.check_error!, but a refusal by the guard is a StoreInUseError.
  def check_error!(err)
    return if err.null?

    slot = FFI::MemoryPointer.new(:pointer)
    owner = gvlbench_take_refusal(slot)
    return GvlbenchWasm.check_error!(err) if owner.zero?

    GvlbenchWasm.wasmtime_error_delete(err)
    raise_refusal(slot, owner)
  end

  # The refusal an entry point with no error channel may have recorded, raised (entries.rb
  # asks only when the entry returned what a refusal returns).
  def check_refusal!
    slot = FFI::MemoryPointer.new(:pointer)
    owner = gvlbench_take_refusal(slot)
    raise_refusal(slot, owner) unless owner.zero?
  end

  def raise_refusal(slot, owner)
    store = NAMES.fetch(slot.read_pointer.address) { "Store guard #{slot.read_pointer.address}" }
    holder = Thread.list.find { |t| t.native_thread_id == owner }
    raise GvlbenchHosts::StoreInUseError,
          "store #{store.inspect} is in use by thread #{(holder&.name || "thread #{owner}").inspect}; " \
          "thread #{Thread.current.name.inspect} was refused a Store entry"
  end
end
