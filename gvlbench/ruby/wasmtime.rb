# frozen_string_literal: true

# A small binding of Wasmtime's C API over ruby-ffi: just what gvlbench's Ruby worker needs.
#
# It loads the libwasmtime that the Python wheel ships (the harness passes its path in
# GVLBENCH_LIBWASMTIME), so both workers measure the same library. `wasmtime_func_call` is
# attached twice, the only difference being the lock: `held` is an ordinary attachment (the
# GVL stays held for the whole call, the wasmtime gem's default) and `released` is attached
# with `blocking: true` (ruby-ffi releases the GVL around the call, as the gem's
# `to_func(gvl: false)` does). Host callbacks are FFI::Function objects: ruby-ffi re-takes the
# GVL before running them, in either mode.

require "ffi"

module GvlbenchWasm
  extend FFI::Library
  ffi_lib ENV.fetch("GVLBENCH_LIBWASMTIME")

  VAL_SIZE = 32     # sizeof(wasmtime_val_t): kind (u8), union at offset 8
  EXTERN_SIZE = 32  # sizeof(wasmtime_extern_t): kind (u8), union at offset 8
  UNION_OFFSET = 8
  KINDS = { 0 => :i32, 1 => :i64, 2 => :f32, 3 => :f64 }.freeze
  EXTERN_FUNC = 0
  EXTERN_MEMORY = 3
  # wasmtime_trap_code_t values (wasmtime/trap.h) that the checks name.
  TRAP_CODES = { 0 => :stack_overflow, 1 => :memory_out_of_bounds, 9 => :unreachable,
                 10 => :interrupt }.freeze

  class ByteVec < FFI::Struct
    layout :size, :size_t, :data, :pointer
  end

  class PtrVec < FFI::Struct
    layout :size, :size_t, :data, :pointer
  end

  attach_function :wasm_engine_new, [], :pointer
  attach_function :wasm_engine_delete, [:pointer], :void
  attach_function :wasmtime_store_delete, [:pointer], :void
  attach_function :wasmtime_module_delete, [:pointer], :void
  attach_function :wasmtime_linker_delete, [:pointer], :void
  attach_function :wasm_config_new, [], :pointer
  attach_function :wasm_engine_new_with_config, [:pointer], :pointer
  attach_function :wasmtime_config_epoch_interruption_set, %i[pointer bool], :void
  attach_function :wasmtime_engine_increment_epoch, [:pointer], :void
  attach_function :wasmtime_store_new, %i[pointer pointer pointer], :pointer
  attach_function :wasmtime_store_context, [:pointer], :pointer
  attach_function :wasmtime_store_limiter, %i[pointer int64 int64 int64 int64 int64], :void
  attach_function :wasmtime_context_set_epoch_deadline, %i[pointer uint64], :void
  attach_function :wasmtime_module_new, %i[pointer pointer size_t pointer], :pointer
  attach_function :wasmtime_module_imports, %i[pointer pointer], :void
  attach_function :wasm_importtype_vec_delete, [:pointer], :void
  attach_function :wasm_importtype_module, [:pointer], :pointer
  attach_function :wasm_importtype_name, [:pointer], :pointer
  attach_function :wasm_importtype_type, [:pointer], :pointer
  attach_function :wasm_externtype_as_functype_const, [:pointer], :pointer
  attach_function :wasm_functype_params, [:pointer], :pointer
  attach_function :wasm_functype_results, [:pointer], :pointer
  attach_function :wasm_functype_delete, [:pointer], :void
  attach_function :wasm_valtype_kind, [:pointer], :uint8
  attach_function :wasmtime_linker_new, [:pointer], :pointer
  callback :host_callback, %i[pointer pointer pointer size_t pointer size_t], :pointer
  callback :finalizer, [:pointer], :void
  attach_function :wasmtime_linker_define_func,
                  %i[pointer pointer size_t pointer size_t pointer host_callback pointer pointer],
                  :pointer
  attach_function :wasmtime_linker_instantiate, %i[pointer pointer pointer pointer pointer], :pointer
  attach_function :wasmtime_instance_export_get, %i[pointer pointer pointer size_t pointer], :bool
  attach_function :wasmtime_func_type, %i[pointer pointer], :pointer
  attach_function :wasm_trap_message, %i[pointer pointer], :void
  attach_function :wasm_trap_delete, [:pointer], :void
  attach_function :wasmtime_trap_new, %i[pointer size_t], :pointer
  attach_function :wasmtime_trap_code, %i[pointer pointer], :bool
  attach_function :wasmtime_memory_grow, %i[pointer pointer uint64 pointer], :pointer
  attach_function :wasmtime_memory_size, %i[pointer pointer], :uint64
  attach_function :wasmtime_error_message, %i[pointer pointer], :void
  attach_function :wasmtime_error_delete, [:pointer], :void
  attach_function :wasm_byte_vec_delete, [:pointer], :void
  CALL_ARGS = %i[pointer pointer pointer size_t pointer size_t pointer].freeze
  # The one difference between the modes: the same C function, the GVL held or released.
  attach_function :func_call_held, :wasmtime_func_call, CALL_ARGS, :pointer
  attach_function :func_call_released, :wasmtime_func_call, CALL_ARGS, :pointer, blocking: true

  class WasmError < StandardError; end

  # A Wasm trap; `message` is Wasmtime's, e.g. "wasm trap: wasm `unreachable` instruction
  # executed" followed by a backtrace; `code` a symbol from TRAP_CODES (or the number).
  class Trap < StandardError
    attr_reader :code

    def initialize(message, code = nil)
      super(message)
      @code = code
    end
  end

  # A message from a wasm_byte_vec_t, without the NUL that wasm_trap_message counts in it.
  def self.take_message(ptr, getter)
    vec = ByteVec.new
    send(getter, ptr, vec)
    text = vec[:data].read_bytes(vec[:size]).force_encoding("UTF-8")
    wasm_byte_vec_delete(vec)
    text.sub(/\0+\z/, "").rstrip
  end

  # Raises for a wasmtime_error_t: the host exception this thread has waiting when there is
  # one (a callback raised and its trap came back as an error), a WasmError otherwise.
  def self.check_error!(err)
    return if err.null?

    message = take_message(err, :wasmtime_error_message)
    wasmtime_error_delete(err)
    raise_pending!
    raise WasmError, message
  end

  # Owned C objects are freed when Ruby collects their wrapper: Engines, Stores, Modules and
  # Linkers each hold what they need of the others (Wasmtime counts references inside), and
  # our wrappers keep their Ruby owners alive, so the order of collection does not matter.
  def self.owned(ptr, deleter)
    raise WasmError, "Wasmtime returned NULL for an object freed by #{deleter}" if ptr.null?

    FFI::AutoPointer.new(ptr, method(deleter))
  end

  def self.name_of(vec_ptr)
    vec = ByteVec.new(vec_ptr)
    vec[:data].read_bytes(vec[:size])
  end

  def self.kinds(vec_ptr)
    vec = PtrVec.new(vec_ptr)
    vec[:data].read_array_of_pointer(vec[:size]).map { |vt| KINDS.fetch(wasm_valtype_kind(vt)) }
  end

  # An engine, optionally with epoch interruption.
  class Engine
    attr_reader :ptr

    def initialize(epoch_interruption: false)
      raw = if epoch_interruption
              config = GvlbenchWasm.wasm_config_new # consumed by the engine
              GvlbenchWasm.wasmtime_config_epoch_interruption_set(config, true)
              GvlbenchWasm.wasm_engine_new_with_config(config)
            else
              GvlbenchWasm.wasm_engine_new
            end
      @ptr = GvlbenchWasm.owned(raw, :wasm_engine_delete)
      @epoch = epoch_interruption
    end

    def epoch_interruption?
      @epoch
    end

    def increment_epoch
      GvlbenchWasm.wasmtime_engine_increment_epoch(@ptr)
    end
  end

  # A compiled module and what it imports: [[module, name, functype pointer]].
  class Module
    attr_reader :ptr, :imports

    def initialize(engine, bytes)
      @engine = engine
      buf = FFI::MemoryPointer.new(:uint8, bytes.bytesize)
      buf.put_bytes(0, bytes)
      out = FFI::MemoryPointer.new(:pointer)
      GvlbenchWasm.check_error!(GvlbenchWasm.wasmtime_module_new(engine.ptr, buf, bytes.bytesize, out))
      @ptr = GvlbenchWasm.owned(out.read_pointer, :wasmtime_module_delete)
      # Kept alive (the functypes below point into it) until the Module is collected.
      @imports_vec = PtrVec.new(FFI::MemoryPointer.new(PtrVec.size))
      GvlbenchWasm.wasmtime_module_imports(@ptr, @imports_vec)
      ObjectSpace.define_finalizer(self, Module.importtypes_deleter(@imports_vec.pointer))
      items = @imports_vec[:data].read_array_of_pointer(@imports_vec[:size])
      @imports = items.map do |it|
        [GvlbenchWasm.name_of(GvlbenchWasm.wasm_importtype_module(it)),
         GvlbenchWasm.name_of(GvlbenchWasm.wasm_importtype_name(it)),
         GvlbenchWasm.wasm_externtype_as_functype_const(GvlbenchWasm.wasm_importtype_type(it))]
      end
    end

    # A finalizer that captures the vector, not the Module (which it would keep alive).
    def self.importtypes_deleter(vec_ptr)
      proc { GvlbenchWasm.wasm_importtype_vec_delete(vec_ptr) }
    end
  end

  # Reads and writes wasmtime_val_t arrays.
  module Vals
    def self.write(ptr, index, kind, value)
      base = index * VAL_SIZE
      ptr.put_uint8(base, KINDS.key(kind))
      case kind
      when :i32 then ptr.put_int32(base + UNION_OFFSET, wrap(value, 32))
      when :i64 then ptr.put_int64(base + UNION_OFFSET, wrap(value, 64))
      when :f32 then ptr.put_float32(base + UNION_OFFSET, Float(value))
      when :f64 then ptr.put_float64(base + UNION_OFFSET, Float(value))
      end
    end

    def self.read(ptr, index)
      base = index * VAL_SIZE
      case KINDS.fetch(ptr.get_uint8(base))
      when :i32 then ptr.get_int32(base + UNION_OFFSET)
      when :i64 then ptr.get_int64(base + UNION_OFFSET)
      when :f32 then ptr.get_float32(base + UNION_OFFSET)
      when :f64 then ptr.get_float64(base + UNION_OFFSET)
      end
    end

    # An n-bit integer given as signed (-2**(n-1)..2**(n-1)-1) or unsigned (..2**n-1);
    # anything outside both ranges is an error (wasmtime-py's Val.i32 wraps it silently; the
    # harness range-checks spec arguments itself, so only a host result could differ).
    def self.wrap(value, bits)
      int = Integer(value)
      unless (-(1 << (bits - 1))...(1 << bits)).cover?(int)
        raise RangeError, "#{int} does not fit in i#{bits}"
      end

      int &= (1 << bits) - 1
      int >= (1 << (bits - 1)) ? int - (1 << bits) : int
    end
  end

  # A host callback raised: the exception waits here, per thread, until the call that the
  # callback ran inside returns to Ruby, and is re-raised there as itself.
  PENDING = :gvlbench_pending_host_exception

  # Wraps a Ruby callable as a host function of the given Wasm signature. Anything raised in
  # it (Exception included: SystemExit, Interrupt) is caught here, never unwound through C
  # frames, and becomes a trap that the caller turns back into the exception.
  def self.host_function(results, callable)
    FFI::Function.new(:pointer, %i[pointer pointer pointer size_t pointer size_t]) do |_env, _caller, args, nargs, res, nres|
      values = Array.new(nargs) { |i| Vals.read(args, i) }
      out = callable.call(*values)
      store_results(results, out, res, nres)
      FFI::Pointer::NULL
    rescue Exception => e # rubocop:disable Lint/RescueException
      Thread.current[PENDING] = e
      msg = "host function raised #{e.class}"
      buf = FFI::MemoryPointer.from_string(msg)
      wasmtime_trap_new(buf, msg.bytesize)
    end
  end

  def self.store_results(kinds, out, res, nres)
    values = if kinds.empty? then [] # a Ruby block always returns something: ignored
             else out.is_a?(Array) ? out : [out]
             end
    if values.size != nres
      raise ArgumentError, "host function returned #{values.size} result(s), its type declares #{nres}"
    end

    kinds.each_with_index { |k, i| Vals.write(res, i, k, values[i]) }
  end

  # A Store with one instance of a module, its imports bound to host callables.
  class Instance
    attr_reader :store, :context

    # hosts: { [module, name] => callable }; the import's own type is used.
    def initialize(engine, mod, hosts, memory_limit_bytes: nil)
      @engine, @module = engine, mod
      @store = GvlbenchWasm.owned(GvlbenchWasm.wasmtime_store_new(engine.ptr, nil, nil), :wasmtime_store_delete)
      @context = GvlbenchWasm.wasmtime_store_context(@store)
      GvlbenchWasm.wasmtime_store_limiter(@store, memory_limit_bytes, -1, -1, -1, -1) if memory_limit_bytes
      @linker = GvlbenchWasm.owned(GvlbenchWasm.wasmtime_linker_new(engine.ptr), :wasmtime_linker_delete)
      @callbacks = [] # FFI::Functions must outlive every call
      mod.imports.each do |m, n, ty|
        callable = hosts.fetch([m, n]) { raise WasmError, "no host function for import #{m}.#{n}" }
        results = GvlbenchWasm.kinds(GvlbenchWasm.wasm_functype_results(ty))
        fn = GvlbenchWasm.host_function(results, callable)
        @callbacks << fn
        GvlbenchWasm.check_error!(
          GvlbenchWasm.wasmtime_linker_define_func(@linker, m, m.bytesize, n, n.bytesize, ty, fn, nil, nil)
        )
      end
      @instance = FFI::MemoryPointer.new(:uint8, 16)
      trap = FFI::MemoryPointer.new(:pointer)
      GvlbenchWasm.check_error!(GvlbenchWasm.wasmtime_linker_instantiate(@linker, @context, mod.ptr, @instance, trap))
      GvlbenchWasm.raise_trap!(trap.read_pointer) unless trap.read_pointer.null?
    end

    def set_epoch_deadline(ticks)
      GvlbenchWasm.wasmtime_context_set_epoch_deadline(@context, ticks)
    end

    # A callable export: Func.
    def func(name)
      ext = FFI::MemoryPointer.new(:uint8, EXTERN_SIZE)
      found = GvlbenchWasm.wasmtime_instance_export_get(@context, @instance, name, name.bytesize, ext)
      raise WasmError, "no export named #{name}" unless found
      raise WasmError, "export #{name} is not a function" unless ext.get_uint8(0) == EXTERN_FUNC

      Func.new(self, ext)
    end

    # An exported memory: its size and grow, as a host would use them.
    def memory(name)
      ext = FFI::MemoryPointer.new(:uint8, EXTERN_SIZE)
      found = GvlbenchWasm.wasmtime_instance_export_get(@context, @instance, name, name.bytesize, ext)
      raise WasmError, "no memory export named #{name}" unless found && ext.get_uint8(0) == EXTERN_MEMORY

      Memory.new(self, ext)
    end
  end

  # wasmtime_memory_t of one Store; it keeps its Instance (so its Store) alive.
  class Memory
    def initialize(instance, ext)
      @instance, @context, @ext, @memory = instance, instance.context, ext, ext + UNION_OFFSET
    end

    def size
      GvlbenchWasm.wasmtime_memory_size(@context, @memory)
    end

    # The previous size in pages; WasmError when the grow is refused (a limit, the maximum).
    def grow(delta)
      prev = FFI::MemoryPointer.new(:uint64)
      GvlbenchWasm.check_error!(GvlbenchWasm.wasmtime_memory_grow(@context, @memory, delta, prev))
      prev.read_uint64
    end
  end

  # When a host callback on this thread raised, that exception is what the caller gets,
  # whether its trap came back from Wasmtime as a trap or as an error; it is consumed here.
  def self.raise_pending!
    pending = Thread.current[PENDING]
    return unless pending

    Thread.current[PENDING] = nil
    raise pending
  end

  def self.raise_trap!(trap)
    message = take_message(trap, :wasm_trap_message)
    code_buf = FFI::MemoryPointer.new(:uint8)
    code = wasmtime_trap_code(trap, code_buf) ? TRAP_CODES.fetch(code_buf.read_uint8) { |c| c } : nil
    wasm_trap_delete(trap)
    raise_pending!
    raise Trap.new(message, code)
  end

  # One export, called held or released. Argument and result buffers are made once per
  # Func (per thread: a Func is not shared between threads unless a test wants exactly that);
  # values are converted on every call, as a binding's call would.
  class Func
    attr_reader :params, :results
    # the module whose func_call_held/func_call_released and check_error! the call goes
    # through: GvlbenchWasm itself, or the native Store guard (native_guard.rb)
    attr_writer :via

    def initialize(instance, ext)
      @instance = instance
      @ext = ext # keep the extern alive: @func points into it
      @func = ext + UNION_OFFSET
      ty = GvlbenchWasm.wasmtime_func_type(instance.context, @func)
      @params = GvlbenchWasm.kinds(GvlbenchWasm.wasm_functype_params(ty))
      @results = GvlbenchWasm.kinds(GvlbenchWasm.wasm_functype_results(ty))
      GvlbenchWasm.wasm_functype_delete(ty)
    end

    # A private copy for another thread: the same function of the same Store.
    def for_thread
      dup.tap(&:reset_buffers)
    end

    def reset_buffers
      @args_buf = @res_buf = @trap = nil
    end

    def call(mode, *args)
      if args.size != @params.size
        raise ArgumentError, "export takes #{@params.size} argument(s), given #{args.size}"
      end

      @args_buf ||= FFI::MemoryPointer.new(:uint8, VAL_SIZE * [@params.size, 1].max)
      @res_buf ||= FFI::MemoryPointer.new(:uint8, VAL_SIZE * [@results.size, 1].max)
      @trap ||= FFI::MemoryPointer.new(:pointer)
      args.each_with_index { |a, i| Vals.write(@args_buf, i, @params[i], a) }
      @trap.write_pointer(FFI::Pointer::NULL)
      fn = mode == "held" ? :func_call_held : :func_call_released
      via = @via || GvlbenchWasm
      err = via.send(fn, @instance.context, @func, @args_buf, @params.size,
                     @res_buf, @results.size, @trap)
      via.check_error!(err)
      GvlbenchWasm.raise_trap!(@trap.read_pointer) unless @trap.read_pointer.null?
      out = Array.new(@results.size) { |i| Vals.read(@res_buf, i) }
      out.size == 1 ? out[0] : (out.empty? ? nil : out)
    end
  end
end
