import Foundation
import FileIO
import VGGCore

/// One of N deterministic slices of an image command's inputs (`--shard K/N`, K counted from 0): the
/// inputs in the order one process takes them (arguments in order, each folder's images sorted by name),
/// cut into N contiguous slices whose sizes differ by at most one. The same arguments give the same
/// slices on every machine, so parts put back in shard order are one process's output.
public struct Shard: Codable, Sendable, Equatable {
    public let index: Int
    public let count: Int

    /// Shards are at most this many (a part per image of a large collection is already more than useful).
    public static let maximumCount = 1 << 20

    public init(index: Int, count: Int) throws {
        guard (1...Self.maximumCount).contains(count), (0..<count).contains(index) else {
            throw RequestError.shard(text: "\(index)/\(count)", problem: .outOfRange)
        }
        self.index = index
        self.count = count
    }

    /// `K/N`, or `env:NAME/N` with K read from the environment variable NAME (a job array's index:
    /// `JOB_COMPLETION_INDEX` in a Kubernetes Indexed Job, `SLURM_ARRAY_TASK_ID` in a Slurm array).
    public static func parse(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Shard {
        guard let slash = text.lastIndex(of: "/"), let count = Int(text[text.index(after: slash)...]) else {
            throw RequestError.shard(text: text, problem: .syntax)
        }
        var first = String(text[..<slash])
        if first.hasPrefix("env:") {
            let name = String(first.dropFirst(4))
            guard let value = environment[name] else { throw RequestError.shard(text: text, problem: .missingVariable(name)) }
            first = value.trimmingCharacters(in: .whitespaces)
        }
        guard let index = Int(first) else { throw RequestError.shard(text: text, problem: .syntax) }
        return try Shard(index: index, count: count)
    }

    /// The positions of this shard's inputs among `total`.
    public func range(of total: Int) -> Range<Int> {
        // Multiplying first keeps the slices balanced; totals are bounded far below Int.max / count.
        (index * total / count)..<((index + 1) * total / count)
    }
}

/// What a shard's output holds (beside a feature array as `F.npy.part.json`, or inside `predict` and
/// `evaluate` JSON): which shard, which inputs, and the settings every part of one run shares, so that
/// `merge` puts the parts back in order and refuses parts that do not belong together.
public struct ShardPart: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case features, predict, evaluate }
    public var kind: Kind
    public var shard: Int
    public var of: Int
    /// The inputs over all shards, and the position of this part's first among them.
    public var total: Int
    public var first: Int
    public var files: [String]
    /// What must be equal across the parts: the model's fingerprint, preprocessing, input size, and the
    /// command's options (layer and layout; top, flip and labels).
    public var settings: [String: String]

    public init(kind: Kind, shard: Shard, total: Int, files: [String], settings: [String: String]) {
        self.kind = kind
        self.shard = shard.index
        self.of = shard.count
        self.total = total
        self.first = shard.range(of: total).lowerBound
        self.files = files
        self.settings = settings
    }

    /// The settings every image command shares: the model's fingerprint, preprocessing and input size.
    public static func settings(model: NativeFile, inputs: ImageInputs) -> [String: String] {
        ["model": fingerprint(model), "preprocessing": inputs.preprocessing.rawValue, "size": "\(inputs.size.height)x\(inputs.size.width)"]
    }

    /// A CRC-32 over the model's architecture and every tensor's name and checksum: equal for the same
    /// weights whatever file or format they were read from.
    public static func fingerprint(_ model: NativeFile) -> String {
        var text = model.header.architecture.layers.map { "\($0.name):\($0.type.rawValue)" }.joined(separator: ",")
        for tensor in model.header.tensors { text += ";\(tensor.name):\(tensor.crc32)" }
        return CRC32.hex(Array(text.utf8).withUnsafeBytes { CRC32.of($0) })
    }

    /// Checks that `parts` (with the path each came from) are one run's complete set: one kind, the same
    /// N, total and settings, every shard once, each holding its slice. Returns them in shard order.
    public static func ordered<T>(_ parts: [(path: String, part: ShardPart, value: T)]) throws -> [(path: String, part: ShardPart, value: T)] {
        guard let reference = parts.first?.part else { throw RequestError.merge(path: "", problem: .noParts) }
        var seen: [Int: String] = [:]
        for (path, part, _) in parts {
            for (field, same) in [("kind", part.kind == reference.kind), ("shard count", part.of == reference.of),
                                  ("input count", part.total == reference.total), ("settings", part.settings == reference.settings)] where !same {
                throw RequestError.merge(path: path, problem: .mismatch(field: field, first: parts[0].path))
            }
            let expected = (try? Shard(index: part.shard, count: part.of))?.range(of: part.total)
            guard let expected, part.first == expected.lowerBound, part.files.count == expected.count else {
                throw RequestError.merge(path: path, problem: .wrongSlice(shard: part.shard))
            }
            if let other = seen[part.shard] { throw RequestError.merge(path: path, problem: .duplicate(shard: part.shard, other: other)) }
            seen[part.shard] = path
        }
        let missing = (0..<reference.of).filter { seen[$0] == nil }
        guard missing.isEmpty else { throw RequestError.merge(path: parts[0].path, problem: .missing(shards: missing)) }
        return parts.sorted { $0.part.shard < $1.part.shard }
    }
}

/// `predict --json --shard`: the part and its results.
public struct PredictionPart: Codable, Sendable {
    public var part: ShardPart
    public var results: [ImagePrediction.Result]
    public init(part: ShardPart, results: [ImagePrediction.Result]) { (self.part, self.results) = (part, results) }
}

/// `evaluate --json --shard`: the part and its counts.
public struct EvaluationPart: Codable, Sendable {
    public var part: ShardPart
    public var tally: ImageEvaluation.Tally
    public init(part: ShardPart, tally: ImageEvaluation.Tally) { (self.part, self.tally) = (part, tally) }
}

/// `vggconv merge`: parts of one sharded run back into what one process writes.
public enum ShardMerge {
    /// The kind of part at `path`: a feature array (with its `.part.json` beside it) or a JSON part.
    public static func kind(of path: String) throws -> ShardPart.Kind {
        if FileManager.default.fileExists(atPath: path + ".part.json") { return .features }
        return try readPart(path).kind
    }

    static func readPart(_ path: String) throws -> ShardPart {
        struct Envelope: Decodable { let part: ShardPart }
        return try decode(Envelope.self, at: path).part
    }

    /// The JSON at `path` as a `T` (at most 1 GiB), or `.notAPart`.
    static func decode<T: Decodable>(_ type: T.Type, at path: String) throws -> T {
        let file = try MappedFile(path: path, role: .file)
        guard file.count <= 1 << 30, let value = try? JSONOutput.decoder.decode(type, from: file.contents()) else {
            throw RequestError.merge(path: path, problem: .notAPart)
        }
        return value
    }

    /// `predict --json` parts → the results in input order, as one process prints them.
    public static func predictions(_ paths: [String]) throws -> [ImagePrediction.Result] {
        let parts = try paths.map { path in
            let part = try decode(PredictionPart.self, at: path)
            return (path: path, part: part.part, value: part.results)
        }
        return try ShardPart.ordered(parts).flatMap(\.value)
    }

    /// `evaluate --json` parts → the report one process makes (the counts summed, the rates recomputed).
    public static func evaluation(_ paths: [String]) throws -> ImageEvaluation.Report {
        let parts = try paths.map { path in
            let part = try decode(EvaluationPart.self, at: path)
            return (path: path, part: part.part, value: part.tally)
        }
        let ordered = try ShardPart.ordered(parts)
        var total = ordered[0].value
        for part in ordered.dropFirst() { total.add(part.value) }
        return total.report
    }

    /// Feature arrays (`F.npy` + `F.npy.part.json`) → one `.npy` at `output` in input order, streamed one
    /// part at a time and written through a temporary file. Returns the merged shape.
    public static func features(_ paths: [String], output: String, overwrite: Bool) throws -> [Int] {
        let parts = try paths.map { path -> (path: String, part: ShardPart, value: MappedFile) in
            (path, try decode(ShardPart.self, at: path + ".part.json"), try MappedFile(path: path, role: .array))
        }
        let ordered = try ShardPart.ordered(parts)
        try Converter.checkOutput(output, inputs: paths, overwrite: overwrite)
        var sample: [Int]?
        var layouts: [(file: MappedFile, offset: Int, count: Int)] = []
        for (path, part, file) in ordered {
            let layout = try file.withBytes(offset: 0, length: file.count) { try NpyArray.layout($0, origin: path) }
            guard layout.dtype == .float32, layout.shape.first == part.files.count, sample == nil || Array(layout.shape.dropFirst()) == sample else {
                throw RequestError.merge(path: path, problem: .mismatch(field: "array shape \(layout.shape)", first: ordered[0].path))
            }
            sample = Array(layout.shape.dropFirst())
            layouts.append((file, layout.dataOffset, layout.byteCount))
        }
        let shape = [ordered[0].part.total] + (sample ?? [])
        let header = NpyArray.header(dtype: .float32, shape: shape)
        let out = try OutputFile(path: output, overwrite: overwrite)
        try header.withUnsafeBytes { try out.write($0, at: 0) }
        var position = header.count
        let block = 8 << 20
        for (file, offset, count) in layouts {
            for start in stride(from: 0, to: count, by: block) {
                let length = min(block, count - start)
                try file.withBytes(offset: offset + start, length: length) { try out.write($0, at: position + start) }
                file.release(offset: offset + start, length: length)
            }
            position += count
        }
        try out.commit()
        return shape
    }
}
