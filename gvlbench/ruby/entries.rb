# frozen_string_literal: true

# The Store's entry points besides the call, in Ruby: the twin of gvlbench/binding/entries.py
# for `race --guard-cost`. wat/entries.wat is instantiated in one Store on an engine that
# counts fuel; each accessor is one ruby-ffi call with its buffers made once, the check it
# needs and its value converted (the "ruby-ffi" path). Unguarded it calls libwasmtime (a
# memory copy: the shim's plain copy, one native call as a native binding's Memory#read);
# guarded it calls the shim's function of the same signature (native_guard.rb), whose
# design is changed between batches. An entry point with no error channel is checked for a
# refusal only when it returns what a refusal returns.

require "ffi"
require_relative "wasmtime"

module GvlbenchWasm
  attach_function :wasmtime_config_consume_fuel_set, %i[pointer bool], :void
  attach_function :wasmtime_global_get, %i[pointer pointer pointer], :void
  attach_function :wasmtime_global_set, %i[pointer pointer pointer], :pointer
  attach_function :wasmtime_table_get, %i[pointer pointer uint64 pointer], :bool
  attach_function :wasmtime_context_get_fuel, %i[pointer pointer], :pointer
  attach_function :wasmtime_context_set_fuel, %i[pointer uint64], :pointer
  attach_function :wasmtime_instance_new, %i[pointer pointer pointer size_t pointer pointer], :pointer
end

module GvlbenchEntries
  FUEL = 10**12
  BYTES = 64
  DATA = (0...BYTES).to_a.pack("C*")
  GLOBAL_REFUSED = -(2**62) # a Fixnum: compared without a Bignum
  EXTERN_KINDS = { "global" => 1, "table" => 2, "memory" => 3 }.freeze

  # wat/entries.wat in one Store, on an engine that counts fuel.
  class EntryStore
    attr_reader :context

    def initialize(wasm_path)
      config = GvlbenchWasm.wasm_config_new # consumed by the engine
      GvlbenchWasm.wasmtime_config_consume_fuel_set(config, true)
      @engine = GvlbenchWasm.owned(GvlbenchWasm.wasm_engine_new_with_config(config), :wasm_engine_delete)
      bytes = File.binread(wasm_path)
      buf = FFI::MemoryPointer.new(:uint8, bytes.bytesize).put_bytes(0, bytes)
      out = FFI::MemoryPointer.new(:pointer)
      GvlbenchWasm.check_error!(GvlbenchWasm.wasmtime_module_new(@engine, buf, bytes.bytesize, out))
      @module = GvlbenchWasm.owned(out.read_pointer, :wasmtime_module_delete)
      @store = GvlbenchWasm.owned(GvlbenchWasm.wasmtime_store_new(@engine, nil, nil), :wasmtime_store_delete)
      @context = GvlbenchWasm.wasmtime_store_context(@store)
      GvlbenchWasm.check_error!(GvlbenchWasm.wasmtime_context_set_fuel(@context, FUEL))
      @instance = FFI::MemoryPointer.new(:uint8, 16)
      trap = FFI::MemoryPointer.new(:pointer)
      GvlbenchWasm.check_error!(GvlbenchWasm.wasmtime_instance_new(@context, @module, nil, 0, @instance, trap))
      raise GvlbenchWasm::WasmError, "instantiating entries.wat trapped" unless trap.read_pointer.null?

      @externs = EXTERN_KINDS.keys.to_h { |name| [name, export(name)] }
    end

    # The exported memory, global or table (a pointer to its struct inside the extern).
    def [](name)
      @externs.fetch(name) + GvlbenchWasm::UNION_OFFSET
    end

    private

    def export(name)
      ext = FFI::MemoryPointer.new(:uint8, GvlbenchWasm::EXTERN_SIZE)
      found = GvlbenchWasm.wasmtime_instance_export_get(@context, @instance, name, name.bytesize, ext)
      raise GvlbenchWasm::WasmError, "entries.wat has no #{name}" unless found && ext.get_uint8(0) == EXTERN_KINDS[name]

      ext
    end
  end

  module_function

  # `kind` as a lambda: through libwasmtime (`via` nil) or the shim's guarded functions
  # (`via` GvlbenchNativeGuard). The memory copies come from the shim either way.
  def operation(store, kind, via)
    ctx = store.context
    guarded = !via.nil?
    case kind
    when "memory.size" then memory_size(ctx, store["memory"], guarded)
    when "memory.read", "memory.write" then memory_copy(ctx, store["memory"], kind, guarded)
    when "global.get" then global_get(ctx, store["global"], guarded)
    when "global.set" then global_set(ctx, store["global"], guarded)
    when "table.get" then table_get(ctx, store["table"], guarded)
    when "fuel.get" then fuel_get(ctx, guarded)
    when "fuel.set" then fuel_set(ctx, guarded)
    else raise ArgumentError, "unknown entry point #{kind}"
    end
  end

  def lib(guarded)
    guarded ? GvlbenchNativeGuard : GvlbenchWasm
  end

  def memory_size(ctx, mem, guarded)
    return -> { GvlbenchWasm.wasmtime_memory_size(ctx, mem) } unless guarded

    lambda do
      pages = GvlbenchNativeGuard.gvlbench_wasmtime_memory_size(ctx, mem)
      GvlbenchNativeGuard.check_refusal! if pages == 0 # rubocop:disable Style/NumericPredicate: opt_eq, no call
      pages
    end
  end

  def memory_copy(ctx, mem, kind, guarded)
    buf = FFI::MemoryPointer.new(:uint8, BYTES)
    buf.put_bytes(0, DATA) if kind == "memory.write"
    name = "gvlbench_#{guarded ? '' : 'plain_'}#{kind.tr('.', '_')}".to_sym
    checker = guarded ? GvlbenchNativeGuard : GvlbenchWasm
    if kind == "memory.write"
      -> { checker.check_error!(GvlbenchNativeGuard.send(name, ctx, mem, 0, buf, BYTES)) }
    else
      lambda do
        checker.check_error!(GvlbenchNativeGuard.send(name, ctx, mem, 0, buf, BYTES))
        buf.read_bytes(BYTES)
      end
    end
  end

  def global_get(ctx, glob, guarded)
    val = FFI::MemoryPointer.new(:uint8, GvlbenchWasm::VAL_SIZE)
    offset = GvlbenchWasm::UNION_OFFSET
    return -> { GvlbenchWasm.wasmtime_global_get(ctx, glob, val) || val.get_int64(offset) } unless guarded

    refused, offset = GLOBAL_REFUSED, GvlbenchWasm::UNION_OFFSET
    lambda do
      GvlbenchNativeGuard.gvlbench_wasmtime_global_get(ctx, glob, val)
      value = val.get_int64(offset)
      GvlbenchNativeGuard.check_refusal! if value == refused
      value
    end
  end

  def global_set(ctx, glob, guarded)
    val = FFI::MemoryPointer.new(:uint8, GvlbenchWasm::VAL_SIZE)
    GvlbenchWasm::Vals.write(val, 0, :i64, 7)
    return -> { GvlbenchWasm.check_error!(GvlbenchWasm.wasmtime_global_set(ctx, glob, val)) } unless guarded

    -> { GvlbenchNativeGuard.check_error!(GvlbenchNativeGuard.gvlbench_wasmtime_global_set(ctx, glob, val)) }
  end

  def table_get(ctx, table, guarded)
    val = FFI::MemoryPointer.new(:uint8, GvlbenchWasm::VAL_SIZE)
    fn = guarded ? :gvlbench_wasmtime_table_get : :wasmtime_table_get
    lambda do
      unless lib(guarded).send(fn, ctx, table, 0, val)
        GvlbenchNativeGuard.check_refusal! if guarded
        raise IndexError, "table index out of bounds"
      end
      val.get_uint8(0)
    end
  end

  def fuel_get(ctx, guarded)
    out = FFI::MemoryPointer.new(:uint64)
    fn = guarded ? :gvlbench_wasmtime_context_get_fuel : :wasmtime_context_get_fuel
    lambda do
      lib(guarded).check_error!(lib(guarded).send(fn, ctx, out))
      out.read_uint64
    end
  end

  def fuel_set(ctx, guarded)
    fn = guarded ? :gvlbench_wasmtime_context_set_fuel : :wasmtime_context_set_fuel
    -> { lib(guarded).check_error!(lib(guarded).send(fn, ctx, FUEL)) }
  end
end
