import FileIO
import VGGCore

/// Pickle opcodes (CPython's Lib/pickletools.py); the one byte table.
enum Opcode: UInt8 {
    case mark = 0x28, stop = 0x2E, pop = 0x30, popMark = 0x31, dup = 0x32
    case float = 0x46, int = 0x49, binint = 0x4A, binint1 = 0x4B, long = 0x4C, binint2 = 0x4D
    case none = 0x4E, persid = 0x50, binpersid = 0x51, reduce = 0x52, string = 0x53, binstring = 0x54
    case shortBinstring = 0x55, unicode = 0x56, binunicode = 0x58, append = 0x61, build = 0x62
    case global = 0x63, dict = 0x64, emptyDict = 0x7D, appends = 0x65, get = 0x67, binget = 0x68
    case inst = 0x69, longBinget = 0x6A, list = 0x6C, emptyList = 0x5D, obj = 0x6F, put = 0x70
    case binput = 0x71, longBinput = 0x72, setitem = 0x73, tuple = 0x74, emptyTuple = 0x29, setitems = 0x75
    case binfloat = 0x47, proto = 0x80, newobj = 0x81, ext1 = 0x82, ext2 = 0x83, ext4 = 0x84
    case tuple1 = 0x85, tuple2 = 0x86, tuple3 = 0x87, newtrue = 0x88, newfalse = 0x89, long1 = 0x8A, long4 = 0x8B
    case binbytes = 0x42, shortBinbytes = 0x43, shortBinunicode = 0x8C, binunicode8 = 0x8D, binbytes8 = 0x8E
    case emptySet = 0x8F, additems = 0x90, frozenset = 0x91, newobjEx = 0x92, stackGlobal = 0x93, memoize = 0x94
    case frame = 0x95, bytearray8 = 0x96, nextBuffer = 0x97, readonlyBuffer = 0x98
}

/// A pickle interpreter that builds data only. Globals are resolved against an allow-list of
/// PyTorch tensor constructors and containers; any other global stops the load by name. Nothing is
/// ever called or imported: "calls" to allowed globals are interpreted by `TorchGlobals`.
/// Memo, stack and data sizes are bounded; every error carries the byte offset. Work is linear in the
/// stream: tuple nesting is tracked per stack entry (never recomputed by walking a value, which a DAG
/// of shared tuples would make exponential), and lists and dicts live in a `PickleArena` that tears
/// them down flat, so no chain built through the memo can exhaust the native stack.
struct Unpickler {
    static let maxMemo = 1 << 22
    static let maxStack = 1 << 22

    let path: String
    let bytes: UnsafeRawBufferPointer
    var position: Int
    /// A stack or memo value with the depth of tuples nested in it (lists and dicts count 1: they are
    /// mutable, so walkers bound their own depth, and they release their contents iteratively).
    private struct Entry {
        var value: PickleValue
        var depth: Int
    }
    private var stack: [Entry] = []
    private var marks: [Int] = []
    private var memo: [Int: Entry] = [:]
    private let persistentLoad: (PickleValue, Int) throws -> PickleValue
    private let arena: PickleArena

    /// Starts at `offset` of `bytes`; `persistentLoad` turns persistent ids into storages.
    init(path: String, bytes: UnsafeRawBufferPointer, offset: Int = 0, arena: PickleArena,
         persistentLoad: @escaping (PickleValue, Int) throws -> PickleValue) {
        self.arena = arena
        self.path = path
        self.bytes = bytes
        self.position = offset
        self.persistentLoad = persistentLoad
    }

    private func fail(_ reason: String, at offset: Int? = nil) -> TorchFormatError {
        .malformedPickle(path: path, offset: offset ?? position, reason: reason)
    }

    // MARK: reading primitives

    private mutating func take(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= bytes.count - position else {
            throw fail("needs \(count) bytes but only \(bytes.count - position) remain (truncated)")
        }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
    }

    private mutating func byte() throws -> UInt8 { try take(1)[0] }

    private mutating func little<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let raw = try take(MemoryLayout<T>.size)
        var value: T = 0
        for i in (0..<raw.count).reversed() { value = value << 8 | T(raw[i]) }
        return value
    }

    private mutating func length<T: FixedWidthInteger>(_: T.Type) throws -> Int {
        let value = try little(T.self)
        guard value >= 0, UInt64(value) <= UInt64(bytes.count - position) else {
            throw fail("length \(value) runs past the end of the data")
        }
        return Int(value)
    }

    private mutating func line() throws -> String {
        let start = position
        while position < bytes.count, bytes[position] != 0x0A { position += 1 }
        guard position < bytes.count else { throw fail("unterminated text argument", at: start) }
        defer { position += 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    }

    private mutating func utf8(_ count: Int) throws -> String { String(decoding: try take(count), as: UTF8.self) }

    // MARK: stack

    private mutating func push(_ value: PickleValue, depth: Int? = nil) throws {
        guard stack.count < Self.maxStack else { throw fail("stack exceeds \(Self.maxStack) entries") }
        let depth = depth ?? Self.shallowDepth(value)
        guard depth <= PickleValue.maxNesting else { throw fail("tuples nest deeper than \(PickleValue.maxNesting) levels") }
        stack.append(Entry(value: value, depth: depth))
    }

    private static func shallowDepth(_ value: PickleValue) -> Int {
        switch value {
        case .tuple(let items): return items.isEmpty ? 1 : 2  // only built here from scalars
        case .list, .dict: return 1
        default: return 0
        }
    }

    /// Pushes a tuple of `items`, one level deeper than the deepest of them.
    private mutating func pushTuple(_ items: [Entry]) throws {
        try push(.tuple(items.map(\.value)), depth: 1 + (items.map(\.depth).max() ?? 0))
    }

    private mutating func popEntry() throws -> Entry {
        guard let entry = stack.popLast(), marks.last.map({ stack.count >= $0 }) ?? true else {
            throw fail("stack underflow")
        }
        if case .mark = entry.value { throw fail("unexpected mark") }
        return entry
    }

    private mutating func pop() throws -> PickleValue { try popEntry().value }

    private mutating func popToMark() throws -> [Entry] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw fail("no mark on the stack") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    private mutating func remember(_ index: Int) throws {
        guard let top = stack.last else { throw fail("memo store with an empty stack") }
        guard index >= 0, index < Self.maxMemo else { throw fail("memo index \(index) out of range") }
        memo[index] = top
    }

    private mutating func recall(_ index: Int) throws {
        guard let entry = memo[index] else { throw fail("memo index \(index) was never stored") }
        try push(entry.value, depth: entry.depth)
    }

    // MARK: interpreter

    /// Runs to STOP and returns the result; `position` is then just past the STOP opcode.
    mutating func load() throws -> PickleValue {
        while true {
            let at = position
            let code = try byte()
            guard let op = Opcode(rawValue: code) else {
                throw fail("unknown opcode 0x\(String(code, radix: 16))", at: at)
            }
            if op == .stop {
                guard stack.count == 1, marks.isEmpty else { throw fail("STOP with \(stack.count) values on the stack", at: at) }
                return stack[0].value
            }
            try execute(op, at: at)
        }
    }

    private mutating func execute(_ op: Opcode, at: Int) throws {
        switch op {
        case .proto:
            let version = try byte()
            guard version <= 5 else { throw fail("protocol \(version) is newer than 5", at: at) }
        case .frame: _ = try little(UInt64.self)
        case .mark: marks.append(stack.count)
        case .pop: _ = try pop()
        case .popMark: _ = try popToMark()
        case .dup:
            guard let top = stack.last else { throw fail("DUP on an empty stack", at: at) }
            try push(top.value, depth: top.depth)
        case .none: try push(.none)
        case .newtrue: try push(.bool(true))
        case .newfalse: try push(.bool(false))
        case .binint: try push(.int(Int(try little(Int32.self))))
        case .binint1: try push(.int(Int(try byte())))
        case .binint2: try push(.int(Int(try little(UInt16.self))))
        case .int:
            let text = try line()
            if text == "01" { try push(.bool(true)) } else if text == "00" { try push(.bool(false)) } else {
                guard let value = Int(text) else { throw fail("bad INT '\(text)'", at: at) }
                try push(.int(value))
            }
        case .long:
            var text = try line()
            if text.hasSuffix("L") { text.removeLast() }
            guard let value = Int(text) else { throw fail("LONG '\(text)' is too large", at: at) }
            try push(.int(value))
        case .long1: try push(Self.integer(Array(try take(Int(try byte())))))
        case .long4: try push(Self.integer(Array(try take(try length(Int32.self)))))
        case .binfloat:
            // BINFLOAT is big-endian, unlike every other binary argument.
            let raw = try take(8)
            var bits: UInt64 = 0
            for b in raw { bits = bits << 8 | UInt64(b) }
            try push(.float(Double(bitPattern: bits)))
        case .float:
            let text = try line()
            guard let value = Double(text) else { throw fail("bad FLOAT '\(text)'", at: at) }
            try push(.float(value))
        case .binunicode: try push(.string(try utf8(try length(UInt32.self))))
        case .shortBinunicode: try push(.string(try utf8(Int(try byte()))))
        case .binunicode8: try push(.string(try utf8(try length(UInt64.self))))
        case .unicode: try push(.string(try line()))
        // Python 2 byte strings: torch decodes them as text (ASCII keys in old checkpoints).
        case .binstring: try push(.string(try utf8(try length(Int32.self))))
        case .shortBinstring: try push(.string(try utf8(Int(try byte()))))
        case .string:
            let text = try line()
            guard text.count >= 2, let quote = text.first, quote == "'" || quote == "\"", text.last == quote else {
                throw fail("bad STRING argument", at: at)
            }
            try push(.string(String(text.dropFirst().dropLast())))
        case .binbytes: try push(.bytes(Array(try take(try length(UInt32.self)))))
        case .shortBinbytes: try push(.bytes(Array(try take(Int(try byte())))))
        case .binbytes8, .bytearray8: try push(.bytes(Array(try take(try length(UInt64.self)))))
        case .emptyTuple: try push(.tuple([]))
        case .tuple: try pushTuple(try popToMark())
        case .tuple1: try pushTuple([try popEntry()])
        case .tuple2:
            let b = try popEntry(), a = try popEntry()
            try pushTuple([a, b])
        case .tuple3:
            let c = try popEntry(), b = try popEntry(), a = try popEntry()
            try pushTuple([a, b, c])
        case .emptyList: try push(arena.list())
        case .list: try push(arena.list(try popToMark().map(\.value)))
        case .append:
            let value = try pop()
            guard case .list(let list)? = stack.last?.value else { throw fail("APPEND to a non-list", at: at) }
            list.items.append(value)
        case .appends:
            let values = try popToMark().map(\.value)
            guard case .list(let list)? = stack.last?.value else { throw fail("APPENDS to a non-list", at: at) }
            list.items += values
        case .emptyDict: try push(arena.dict())
        case .dict: try push(arena.dict(try pairs(try popToMark().map(\.value), at: at)))
        case .setitem:
            let value = try pop(), key = try pop()
            guard case .dict(let dict)? = stack.last?.value else { throw fail("SETITEM on a non-dict", at: at) }
            dict.items.append((key, value))
        case .setitems:
            let items = try pairs(try popToMark().map(\.value), at: at)
            guard case .dict(let dict)? = stack.last?.value else { throw fail("SETITEMS on a non-dict", at: at) }
            dict.items += items
        case .emptySet: try push(arena.list())
        case .additems:
            let values = try popToMark().map(\.value)
            guard case .list(let set)? = stack.last?.value else { throw fail("ADDITEMS to a non-set", at: at) }
            set.items += values
        case .frozenset: try push(arena.list(try popToMark().map(\.value)))
        case .put:
            guard let index = Int(try line()) else { throw fail("bad PUT index", at: at) }
            try remember(index)
        case .binput: try remember(Int(try byte()))
        case .longBinput: try remember(Int(try little(UInt32.self)))
        case .memoize: try remember(memo.count)
        case .get:
            guard let index = Int(try line()) else { throw fail("bad GET index", at: at) }
            try recall(index)
        case .binget: try recall(Int(try byte()))
        case .longBinget: try recall(Int(try little(UInt32.self)))
        case .global:
            let module = try line(), name = try line()
            try push(try TorchGlobals.resolve(module: module, name: name, path: path))
        case .stackGlobal:
            let name = try pop(), module = try pop()
            guard case .string(let n) = name, case .string(let m) = module else { throw fail("STACK_GLOBAL needs two strings", at: at) }
            try push(try TorchGlobals.resolve(module: m, name: n, path: path))
        case .reduce, .newobj:
            // A call's result is built from its arguments, so it nests no deeper than they do.
            let arguments = try popEntry(), callable = try pop()
            guard case .tuple(let args) = arguments.value else {
                throw fail("\(op == .reduce ? "REDUCE" : "NEWOBJ") arguments are a \(arguments.value.kind), not a tuple", at: at)
            }
            try push(try TorchGlobals.call(callable, args, arena: arena, path: path, offset: at), depth: arguments.depth)
        case .build:
            let state = try pop()
            guard let target = stack.last?.value else { throw fail("BUILD with an empty stack", at: at) }
            try TorchGlobals.build(target, state: state, path: path, offset: at)
        case .binpersid:
            let id = try pop()
            try push(try persistentLoad(id, at))
        case .persid:
            let id = try line()
            try push(try persistentLoad(.string(id), at))
        case .inst, .obj, .newobjEx, .ext1, .ext2, .ext4, .nextBuffer, .readonlyBuffer:
            throw fail("opcode \(op) is not allowed in a weights file", at: at)
        case .stop:
            break
        }
    }

    private func pairs(_ flat: [PickleValue], at: Int) throws -> [(key: PickleValue, value: PickleValue)] {
        guard flat.count % 2 == 0 else { throw fail("odd number of items for a dict", at: at) }
        return stride(from: 0, to: flat.count, by: 2).map { (flat[$0], flat[$0 + 1]) }
    }

    /// A little-endian two's-complement integer (LONG1/LONG4).
    static func integer(_ raw: [UInt8]) -> PickleValue {
        if raw.isEmpty { return .int(0) }
        guard raw.count <= 8 else { return .bigInt(raw) }
        var value: UInt64 = 0
        for b in raw.reversed() { value = value << 8 | UInt64(b) }
        if raw.count < 8, raw.last! & 0x80 != 0 { value |= ~UInt64(0) << (8 * UInt64(raw.count)) }
        return .int(Int(Int64(bitPattern: value)))
    }
}
