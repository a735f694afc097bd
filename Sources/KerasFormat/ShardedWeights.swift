import Foundation
import FileIO
import VGGCore

/// Keras 3's sharded weights (`model.save_weights("NAME.weights.json", max_shard_size=…)`): an index
/// whose `weight_map` names, for each variable group (`/layers/functional/layers/conv2d/vars`), the
/// shard files (`NAME_00000.weights.h5`, …) holding it. Every shard is a separate HDF5 file trusted for
/// nothing; only plain file names in the index's own folder are opened.
public struct ShardIndex {
    /// The shard files, in the order the index first names them, as paths in the index's folder.
    let shards: [String]

    /// Most shard files one index may name (a 500 MB VGG16 in 1 MB shards has 500).
    static let maximumShards = 10_000

    /// True when `json` is a sharded-weights index rather than a model config.
    public static func isIndex(_ json: Data) -> Bool {
        (try? JSONSerialization.jsonObject(with: json) as? [String: Any])?["weight_map"] != nil
    }

    /// Reads the index at `path` and resolves its shards.
    /// - Throws: `KerasFormatError.notKeras` for a malformed index, a shard name that is not a plain file
    ///   name, or a shard that is missing, not a regular file, or (through a link) outside the folder.
    init(path: String) throws {
        let json = try KerasArchitecture.readJSON(path: path)
        func refuse(_ reason: String) -> KerasFormatError { .notKeras(path: path, reason: "sharded-weights index: \(reason)") }
        guard let root = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
              let map = root["weight_map"] as? [String: Any] else {
            throw refuse("no weight_map object")
        }
        var names: [String] = []
        var seen = Set<String>()
        for key in map.keys.sorted() {
            let files = map[key] as? [Any] ?? [map[key] as Any]
            for file in files {
                guard let name = file as? String else { throw refuse("the shards of \(SafeText.quote(key)) are not file names") }
                if seen.insert(name).inserted { names.append(name) }
            }
        }
        guard !names.isEmpty else { throw refuse("weight_map names no shard file") }
        guard names.count <= Self.maximumShards else { throw refuse("\(names.count) shard files, more than the \(Self.maximumShards) vggconv opens") }
        let folder = (path as NSString).deletingLastPathComponent
        let realFolder = Self.realPath(folder.isEmpty ? "." : folder)
        // Every name is checked before any file is looked at: a path out of the folder is refused as such.
        if let bad = names.first(where: { $0.isEmpty || $0 == "." || $0 == ".." || $0.contains("/") || $0.contains("\0") }) {
            throw refuse("shard \(SafeText.quote(bad)) is not a plain file name in the index's folder; vggconv opens nothing outside it")
        }
        shards = try names.map { name in
            let shard = folder.isEmpty ? name : "\(folder)/\(name)"
            var info = stat()
            guard stat(shard, &info) == 0 else {
                throw refuse("shard \(SafeText.quote(name)) is missing: every file the index names must sit beside it")
            }
            guard info.st_mode & S_IFMT == S_IFREG else { throw refuse("shard \(SafeText.quote(name)) is not a regular file") }
            guard let realFolder, let real = Self.realPath(shard), real.hasPrefix(realFolder + "/") else {
                throw refuse("shard \(SafeText.quote(name)) links outside the index's folder; vggconv opens nothing outside it")
            }
            return shard
        }
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// Where Keras 3 variables are read from: one HDF5 group, or the same group across shard files.
protocol Keras3VariableStore {
    /// The group's path, for messages.
    var location: String { get }
    func isGroup(_ relative: String) -> Bool
    func isDataset(_ relative: String) -> Bool
    func childNames() throws -> [String]
    func subgroup(_ relative: String) throws -> Self
    func tensor(_ relative: String) throws -> SourceTensor
    /// The `name` attribute Keras ≥ 3.6 writes on a `vars` group.
    func storedName() throws -> String?
}

extension HDF5Group: Keras3VariableStore {
    var location: String { String(path.drop { $0 == "/" }) }
    func subgroup(_ relative: String) throws -> HDF5Group { try group(relative) }
    func tensor(_ relative: String) throws -> SourceTensor { try TensorLoader.load(try dataset(relative)) }
    func storedName() throws -> String? { try stringsAttribute("name")?.first }
}

/// One group path across every shard that has it; a `vars` group may be split over several shards.
/// Tensors are copied out of their shard: the isolated reader hands the parent ranges of one file only.
struct ShardedGroup: Keras3VariableStore {
    let groups: [HDF5Group]
    let location: String

    /// The `layers` group of every shard (`shards` opened by the caller).
    init(shards: [HDF5File], relative: String) throws {
        groups = try shards.compactMap { shard in
            let root = try shard.root
            return root.isGroup(relative) ? try root.group(relative) : nil
        }
        location = relative
    }

    private init(groups: [HDF5Group], location: String) {
        self.groups = groups
        self.location = location
    }

    func isGroup(_ relative: String) -> Bool { groups.contains { $0.isGroup(relative) } }
    func isDataset(_ relative: String) -> Bool { groups.contains { $0.isDataset(relative) } }

    func childNames() throws -> [String] {
        var names: [String] = []
        var seen = Set<String>()
        for group in groups { for name in try group.childNames() where seen.insert(name).inserted { names.append(name) } }
        return names
    }

    func subgroup(_ relative: String) throws -> ShardedGroup {
        ShardedGroup(groups: try groups.filter { $0.isGroup(relative) }.map { try $0.group(relative) }, location: "\(location)/\(relative)")
    }

    func tensor(_ relative: String) throws -> SourceTensor {
        guard let group = groups.first(where: { $0.isDataset(relative) }) else {
            throw KerasFormatError.mismatch(path: location, reason: "no shard holds \(location)/\(relative)")
        }
        var tensor = try TensorLoader.load(try group.dataset(relative))
        if tensor.data.isMapped { tensor.data = TensorData(bytes: tensor.data.withUnsafeBytes { Array($0) }) }
        tensor.fileOffset = nil  // an offset into a shard, not into the index file
        return tensor
    }

    func storedName() throws -> String? {
        for group in groups { if let name = try group.stringsAttribute("name")?.first { return name } }
        return nil
    }
}
