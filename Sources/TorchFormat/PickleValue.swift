import VGGCore

/// A value built by the restricted unpickler. Containers are reference types because pickle mutates
/// them after creation (APPEND, SETITEMS, BUILD) and the memo shares them.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer too large for `Int` (little-endian two's complement bytes).
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// An allow-listed global (a class or function), not yet called.
    case global(module: String, name: String)
    case storage(StorageReference)
    case tensor(TensorReference)
    case dtype(DType)
    /// The MARK sentinel on the stack.
    case mark

    /// A short description for error messages.
    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global(let module, let name): return SafeText.quote("\(module).\(name)")
        case .storage: return "storage"
        case .tensor: return "tensor"
        case .dtype: return "dtype"
        case .mark: return "mark"
        }
    }

    /// A one-line rendering of a non-tensor value for `inspect` (strings escaped; containers shown
    /// two levels deep and four items wide, so any value renders in bounded time and length).
    var summary: String { summary(levels: 2) }

    private func summary(levels: Int) -> String {
        func inner(_ items: [PickleValue]) -> String {
            guard levels > 0 else { return "…" }
            return items.prefix(4).map { $0.summary(levels: levels - 1) }.joined(separator: ", ") + (items.count > 4 ? ", ..." : "")
        }
        switch self {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .bigInt: return "<big int>"
        case .float(let f): return String(f)
        case .string(let s): return "'\(SafeText.quote(s, limit: 60))'"
        case .bytes(let b): return "<\(b.count) bytes>"
        case .tuple(let items): return "(" + inner(items) + ")"
        case .list(let list): return "[" + inner(list.items) + "]"
        case .dict(let dict): return "{\(dict.items.count) entries}"
        case .dtype(let d): return "torch.\(d.rawValue)"
        default: return "<\(kind)>"
        }
    }
}

/// A pickle list (also sets). Releases its contents iteratively: a chain of 40,000 lists nested through
/// the memo would otherwise recurse once per level in `deinit` and overflow the native stack.
final class PickleList {
    var items: [PickleValue]
    init(_ items: [PickleValue] = []) { self.items = items }
    deinit { PickleTeardown.release(&items) }
}

/// A pickle dict, in insertion order; torn down like `PickleList`.
final class PickleDict {
    var items: [(key: PickleValue, value: PickleValue)]
    init(_ items: [(key: PickleValue, value: PickleValue)] = []) { self.items = items }
    deinit {
        var values = items.flatMap { [$0.key, $0.value] }
        items = []
        PickleTeardown.release(&values)
    }
}

/// Releases nested containers one at a time from an explicit work list instead of by recursion.
enum PickleTeardown {
    static func release(_ items: inout [PickleValue]) {
        var pending: [PickleValue] = []
        swap(&pending, &items)
        while !pending.isEmpty {
            var value: PickleValue? = pending.removeLast()
            // Take the container out of `value` first, so that a container nobody else holds is seen as unique.
            var list: PickleList?, dict: PickleDict?
            switch value {
            case .list(let l)?: list = l
            case .dict(let d)?: dict = d
            case .tuple(let t)?: pending += t
            default: break
            }
            value = nil
            if var only = list {
                list = nil
                if isKnownUniquelyReferenced(&only) {
                    pending += only.items
                    only.items = []
                }
            }
            if var only = dict {
                dict = nil
                if isKnownUniquelyReferenced(&only) {
                    for item in only.items { pending += [item.key, item.value] }
                    only.items = []
                }
            }
        }
    }
}

extension PickleValue {
    /// Tuples may nest at most this deep (tracked by the unpickler as they are built). Lists and dicts
    /// can be chained deeper through the memo; code that walks values bounds its own depth.
    static let maxNesting = 100
}

/// A storage named by a persistent id: `('storage', type, key, location, numel[, view])`.
struct StorageReference {
    /// Zip: `data/<key>`; legacy: the storage's key in the trailing storage list.
    let key: String
    /// Element type; nil for `UntypedStorage` (bytes, dtype given by the tensor).
    let dtype: DType?
    let typeName: String
    /// Elements (bytes for untyped storages) in the whole storage.
    let count: Int
    /// Legacy views: the offset (in elements) of this view inside the root storage.
    let viewOffset: Int
}

/// A tensor rebuilt by `_rebuild_tensor*`: a strided view of a storage.
struct TensorReference {
    let storage: StorageReference
    let dtype: DType
    let offset: Int
    let shape: [Int]
    let stride: [Int]
}
