import FileIO
import VGGCore

/// Walks the unpickled object: every tensor with its key path (`a.b.0.weight`), every other leaf,
/// and the state_dict of a checkpoint.
enum StateDict {
    static let maxDepth = 64

    /// Tensors and non-tensor leaves under `value`, in pickle order, with dotted key paths. The walk
    /// visits at most `budget` values: a tree has no more values than its pickle has bytes, so a larger
    /// walk means containers shared through the memo (a DAG whose unfolding is exponential).
    static func flatten(_ value: PickleValue, path: String, budget: Int) throws
        -> (tensors: [(String, TensorReference)], others: [(String, String)]) {
        var tensors: [(String, TensorReference)] = [], others: [(String, String)] = []
        var visits = 0
        func walk(_ value: PickleValue, _ key: String, _ depth: Int) throws {
            guard depth < maxDepth else {
                throw TorchFormatError.unsupported(path: path, feature: .nesting(key: key, limit: maxDepth))
            }
            visits += 1
            guard visits <= budget else {
                throw TorchFormatError.unsupported(path: path, feature: .sharedContainers(visitLimit: budget))
            }
            func child(_ name: String) -> String { key.isEmpty ? name : "\(key).\(name)" }
            switch value {
            case .tensor(let t): tensors.append((key, t))
            case .dict(let dict):
                for (k, v) in dict.items { try walk(v, child(keyText(k)), depth + 1) }
            case .list(let list):
                for (i, v) in list.items.enumerated() { try walk(v, child(String(i)), depth + 1) }
            case .tuple(let items):
                for (i, v) in items.enumerated() { try walk(v, child(String(i)), depth + 1) }
            default: others.append((key, value.summary))
            }
        }
        try walk(value, "", 0)
        return (tensors, others)
    }

    static func keyText(_ key: PickleValue) -> String {
        if case .string(let s) = key { return s }
        return key.summary
    }

    /// Key path components that wrappers of a module insert (DataParallel, DistributedDataParallel,
    /// torch.compile) and that loading into the unwrapped model drops.
    static let wrapperComponents: Set<String> = ["module", "_orig_mod"]

    /// Keys under which training scripts nest the model's weights, most specific first.
    static let checkpointKeys = ["state_dict", "model_state_dict", "model", "net", "network", "module", "weights", "params", "model_ema", "ema"]

    /// A state_dict entry: its module key (prefixes removed) and its full key path in the file.
    struct Entry {
        var key: String
        let fullPath: String
        let tensor: TensorReference
    }

    /// The model's tensors: the top-level dict's, unless a dict nested under one of its keys holds more
    /// (a training checkpoint: `{'model_state_dict': …, 'loss': tensor(0.3)}` as PyTorch's tutorial saves
    /// it, or `{'state_dict': …, 'best_acc1': tensor(75.1)}` as its ImageNet example does); among nested
    /// dicts the first of `checkpointKeys`, then the one with the most tensors. Wrapper components
    /// (`wrapperComponents`) are removed from the keys. Returns the entries and where they were found.
    static func locate(_ root: PickleValue, path: String) throws -> (entries: [Entry], container: String?) {
        guard case .dict(let top) = root else {
            throw TorchFormatError.noStateDict(path: path, reason: "the file holds a \(root.kind), not a dict of tensors (save model.state_dict(), not the model)")
        }
        func directTensors(_ dict: PickleDict) -> [(String, TensorReference)] {
            dict.items.compactMap { item in
                if case .tensor(let t) = item.value { return (keyText(item.key), t) }
                return nil
            }
        }
        var found = directTensors(top)
        var container: String?
        let nested = top.items.compactMap { item -> (key: String, tensors: [(String, TensorReference)])? in
            guard case .dict(let d) = item.value else { return nil }
            let tensors = directTensors(d)
            return tensors.isEmpty ? nil : (keyText(item.key), tensors)
        }
        let pick = checkpointKeys.lazy.compactMap { key in nested.first { $0.key == key } }.first
            ?? nested.max { $0.tensors.count < $1.tensors.count }
        if let pick, pick.tensors.count > found.count {
            container = pick.key
            found = pick.tensors
        }
        guard !found.isEmpty else {
            let keys = top.items.prefix(12).map { keyText($0.key) }.joined(separator: ", ")
            throw TorchFormatError.noStateDict(path: path, reason: "no state_dict found: no dict of tensors at the top level or under its keys (\(SafeText.quote(keys)))")
        }
        var entries = found.map { key, tensor in
            Entry(key: key, fullPath: container.map { "\($0).\(key)" } ?? key, tensor: tensor)
        }
        // Wrappers add a path component: DataParallel/DistributedDataParallel `module`, torch.compile
        // `_orig_mod`, around the whole model (`module.0.weight`) or one part of it (PyTorch's ImageNet
        // example wraps a VGG's features: `features.module.0.weight`). A VGG's own keys never have one.
        let unwrapped = entries.map { entry in
            entry.key.split(separator: ".", omittingEmptySubsequences: false).filter { !wrapperComponents.contains(String($0)) }.joined(separator: ".")
        }
        if Set(unwrapped).count == entries.count, !unwrapped.contains(where: \.isEmpty) {
            for i in entries.indices { entries[i].key = unwrapped[i] }
        }
        return (entries, container)
    }
}
