import CKernels
import Foundation
import FileIO
import VGGCore

/// `vggconv diff A B`: two model files of any formats compared in canonical layout, tensor by tensor
/// (streamed in blocks from both memory maps) and layer by layer; each tensor that differs is tested
/// against the known conversion slips (`Slips`) and the one that explains it is named.
public enum ModelDiff {
    /// One aligned pair of tensors.
    public struct TensorComparison: Sendable {
        public var name: String
        /// B's canonical name when the pair was aligned by order and shape instead of by name.
        public var nameInB: String?
        public var dtypes: (a: DType, b: DType)
        public var shapes: (a: [Int], b: [Int])
        public var maxAbsoluteDifference: Float
        /// `maxAbsoluteDifference` relative to B's largest |value|.
        public var maxRelativeDifference: Float
        public var cosine: Float
        public var equal: Bool
        /// The slip that explains the difference, when one does.
        public var slip: String?
    }

    /// The whole comparison.
    public struct Report: Sendable {
        public var pathA: String, pathB: String
        public var formatA: String, formatB: String
        public var tensors: [TensorComparison]
        public var onlyInA: [String], onlyInB: [String]
        /// Human-readable architecture differences (layer count, types, configs, input size).
        public var architecture: [String]
        /// Set when canonical names did not match and tensors were paired by order and shape.
        public var alignment: String?
        /// Differences that are conventions, not errors (a final softmax on one side only).
        public var notes: [String] = []
        public var atol: Float, rtol: Float
        public var identical: Bool { architecture.isEmpty && onlyInA.isEmpty && onlyInB.isEmpty && tensors.allSatisfy(\.equal) }
    }

    /// Compares the models in files `a` and `b`; `configA`/`configB` are the Keras architecture JSONs of
    /// weights-only files.
    /// - Throws: the readers' errors (either file unreadable: the command exits 2).
    public static func compare(_ a: String, _ b: String, configA: String? = nil, configB: String? = nil,
                               atol: Float, rtol: Float) throws -> Report {
        // A record's CRC-32 is checked on the bytes the comparison reads anyway (`PendingChecks`), not by
        // a read pass of its own ahead of it.
        let (modelA, modelB) = (try Converter.readModel(a, options: ConversionOptions(configPath: configA), architecture: nil, checksPending: true),
                                try Converter.readModel(b, options: ConversionOptions(configPath: configB), architecture: nil, checksPending: true))
        let (planA, planB) = (try ModelAssembler.plan(modelA), try ModelAssembler.plan(modelB))
        let (pairs, onlyA, onlyB, alignment) = align(planA.tensors, planB.tensors)
        let contexts = slipContexts(planA.architecture)
        let tensors = try pairs.map { pair in
            try compare(pair.0, pair.1, context: contexts[pair.0.name], atol: atol, rtol: rtol, aligned: alignment != nil)
        }
        for (plan, names) in [(planA, Set(onlyA)), (planB, Set(onlyB))] {
            for tensor in plan.tensors where names.contains(tensor.name) { try tensor.data.checkPendingChecksum() }
        }
        // A final softmax on one side only is the frameworks' convention (torchvision ends in logits): a note.
        var (archA, archB) = (planA.architecture, planB.architecture)
        var notes: [String] = []
        let (softmaxA, softmaxB) = (Explanation.endsInSoftmax(archA.layers), Explanation.endsInSoftmax(archB.layers))
        if softmaxA != softmaxB {
            notes.append("\(softmaxA ? "A" : "B") ends in softmax and \(softmaxA ? "B" : "A") in logits; compare their logits (the softmax model's output before softmax)")
            archA.layers = RunVariant(logits: true).apply(to: archA.layers)
            archB.layers = RunVariant(logits: true).apply(to: archB.layers)
        }
        var report = Report(pathA: a, pathB: b, formatA: planA.sourceFormat, formatB: planB.sourceFormat, tensors: tensors,
                            onlyInA: onlyA, onlyInB: onlyB, architecture: architectureDifferences(archA, archB),
                            alignment: alignment, atol: atol, rtol: rtol)
        report.notes = notes
        return report
    }

    /// Pairs tensors by canonical name; when the name sets differ, by order among tensors of one shape.
    static func align(_ a: [PlannedTensor], _ b: [PlannedTensor])
        -> ([(PlannedTensor, PlannedTensor)], [String], [String], String?) {
        let byName = Dictionary(b.map { ($0.name, $0) }) { first, _ in first }
        if Set(a.map(\.name)) == Set(b.map(\.name)) {
            return (a.compactMap { t in byName[t.name].map { (t, $0) } }, [], [], nil)
        }
        var used = Set<Int>()
        var pairs: [(PlannedTensor, PlannedTensor)] = []
        var onlyA: [String] = []
        for tensor in a {
            if let index = b.indices.first(where: { !used.contains($0) && b[$0].shape == tensor.shape }) {
                used.insert(index)
                pairs.append((tensor, b[index]))
            } else {
                onlyA.append(tensor.name)
            }
        }
        let onlyB = b.indices.filter { !used.contains($0) }.map { b[$0].name }
        return (pairs, onlyA, onlyB, "the models' layers differ, so tensors were paired by order and shape, not by name")
    }

    /// For each kernel: its layer type, and for the first Dense after a Flatten of a map, that map's size.
    static func slipContexts(_ architecture: NativeArchitecture) -> [String: Slips.Context] {
        var contexts: [String: Slips.Context] = [:]
        var previous = architecture.inputShape
        var flattened: (channels: Int, positions: Int)?
        for layer in architecture.layers {
            if layer.type == .flatten, previous.count == 3 { flattened = (previous[0], previous[1] * previous[2]) }
            for (role, _) in LayerSchema.roles(layer.type, layer.config) {
                contexts[role.tensorName(ofLayer: layer.name)] = Slips.Context(
                    shape: [], layerType: layer.type, role: role, flattened: layer.type == .dense ? flattened : nil)
            }
            if layer.type == .dense { flattened = nil }
            previous = layer.outputShape
        }
        return contexts
    }

    /// Streams both tensors in blocks of whole canonical rows; on a difference, loads them whole and
    /// tries the slips.
    static func compare(_ a: PlannedTensor, _ b: PlannedTensor, context: Slips.Context?, atol: Float, rtol: Float,
                        aligned: Bool) throws -> TensorComparison {
        var result = TensorComparison(name: a.name, nameInB: aligned && a.name != b.name ? b.name : nil,
                                      dtypes: (a.sourceDType, b.sourceDType), shapes: (a.shape, b.shape),
                                      maxAbsoluteDifference: .nan, maxRelativeDifference: .nan, cosine: .nan, equal: false)
        guard a.shape == b.shape else {
            try PendingChecks().verify(a, b)
            return result
        }
        let (va, vb) = (try CanonicalValues(a), try CanonicalValues(b))
        let hashed = PendingChecks(a, b)
        if provedIdentical(va, vb, checksums: hashed) {
            try hashed.verify(a, b)
            (result.maxAbsoluteDifference, result.maxRelativeDifference, result.cosine, result.equal) = (0, 0, 1, true)
            return result
        }
        let streamed = PendingChecks(a, b)
        let stats = try pairedStatistics(va, vb, checksums: streamed)
        try streamed.verify(a, b)
        a.data.releasePages()
        b.data.releasePages()
        result.maxAbsoluteDifference = stats.maxAbsolute
        result.maxRelativeDifference = stats.scale > 0 ? stats.maxAbsolute / stats.scale : stats.maxAbsolute
        result.cosine = stats.cosine
        let limit = atol + rtol * stats.scale
        result.equal = stats.nonFinite == 0 && stats.maxAbsolute <= limit
        if !result.equal, var context {
            context.shape = a.shape
            result.slip = Slips.name(va, vb, context: context, limit: limit, scale: stats.normA > 0 ? stats.dot / stats.normA : 1)
        }
        return result
    }

    /// True when both tensors hold the same bits at every canonical position, shown by their position
    /// hashes: one sequential read of each side in its own storage order, no transpose (a Keras fc1 is
    /// otherwise transposed block by block to be compared). A few positions are compared first, so
    /// tensors that differ go straight to the full comparison. False also when a hash cannot be
    /// computed (other dtypes) or a value is NaN or infinite: the full comparison then decides.
    private static func provedIdentical(_ va: CanonicalValues, _ vb: CanonicalValues, checksums: PendingChecks) -> Bool {
        let probes = 16, count = va.count
        guard count > 0, count == vb.count else { return false }
        let samePlaces = va.withValues { x in
            vb.withValues { y in (0..<probes).allSatisfy { k in x(k * (count - 1) / (probes - 1)).bitPattern == y(k * (count - 1) / (probes - 1)).bitPattern } }
        }
        guard samePlaces, let hashA = PositionHash(va, checksum: checksums.a) else { return false }
        guard let hashB = PositionHash(vb, checksum: checksums.b) else { return false }
        return !hashA.nonFinite && hashA == hashB
    }

    /// The statistics of every pair of values at the same canonical position, visited in whatever order
    /// reads both sides fastest: in storage order when both are stored in the same layout (two Keras
    /// kernels), in tiles when one is transposed (`tiledStatistics`), else in blocks of canonical rows.
    private static func pairedStatistics(_ va: CanonicalValues, _ vb: CanonicalValues, checksums: PendingChecks) throws -> Statistics {
        if va.tensor.conversion == vb.tensor.conversion, va.tensor.conversion != .identity {
            var (storageA, storageB) = (va.tensor, vb.tensor)
            storageA.conversion = .identity
            storageB.conversion = .identity
            return try blockStatistics(try CanonicalValues(storageA), try CanonicalValues(storageB), checksums: checksums)
        }
        return try tiledStatistics(va, vb, checksums: checksums) ?? blockStatistics(va, vb, checksums: checksums)
    }

    /// Where a pair's pending record checksums (`TensorData.pendingChecksum`, a `.pth` record's CRC-32)
    /// are collected while the comparison reads the bytes; nil for a side with none.
    struct PendingChecks: Sendable {
        var a: ChecksumPieces?, b: ChecksumPieces?

        init() {}

        init(_ ta: PlannedTensor, _ tb: PlannedTensor) {
            (a, b) = (ta.data.pendingChecksum == nil ? nil : ChecksumPieces(), tb.data.pendingChecksum == nil ? nil : ChecksumPieces())
        }

        /// Checks both tensors' pending checksums: from the pieces when they cover the bytes, else by reading them.
        func verify(_ ta: PlannedTensor, _ tb: PlannedTensor) throws {
            try ta.data.checkPendingChecksum(a)
            try tb.data.checkPendingChecksum(b)
        }
    }

    /// Both sides in blocks of whole canonical rows (a multiple of both row lengths), converted as needed.
    static func blockStatistics(_ va: CanonicalValues, _ vb: CanonicalValues, checksums: PendingChecks = PendingChecks()) throws -> Statistics {
        let unit = lcm(va.rowLength, vb.rowLength)
        let units = max(1, (4 << 20) / unit)
        let scratchA = UnsafeMutableRawBufferPointer.allocate(byteCount: va.scratchBytes(rows: units * unit / va.rowLength), alignment: 64)
        let scratchB = UnsafeMutableRawBufferPointer.allocate(byteCount: vb.scratchBytes(rows: units * unit / vb.rowLength), alignment: 64)
        defer { scratchA.deallocate(); scratchB.deallocate() }
        var stats = Statistics()
        var start = 0
        while start < va.count {
            let end = min(start + units * unit, va.count)
            let (rowsA, rowsB) = ((start / va.rowLength)..<(end / va.rowLength), (start / vb.rowLength)..<(end / vb.rowLength))
            va.withRows(rowsA, scratch: scratchA) { x in
                vb.withRows(rowsB, scratch: scratchB) { y in stats.add(x, y) }
            }
            va.addChecksum(of: rowsA, to: checksums.a)
            vb.addChecksum(of: rowsB, to: checksums.b)
            va.release(rowsA)
            vb.release(rowsB)
            start = end
        }
        return stats
    }

    private static func lcm(_ a: Int, _ b: Int) -> Int {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return a / x * b
    }

    /// Running maximum |a − b|, max |b|, cosine sums (double precision across chunks) and non-finite count.
    struct Statistics {
        var maxAbsolute: Float = 0, scale: Float = 0, nonFinite = 0
        var dot = 0.0, normA = 0.0, normB = 0.0

        /// Adds a block, split across the cores.
        mutating func add(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>) {
            let n = min(x.count, y.count)
            let parts = n >= 1 << 20 ? Cores.count : 1
            let per = (n + parts - 1) / parts
            let partials = UnsafeMutableBufferPointer<Statistics>.allocate(capacity: parts)
            partials.initialize(repeating: Statistics())
            defer { partials.deallocate() }
            let shared = (x: x, y: y, out: partials)
            withoutActuallyEscaping({ (i: Int) in
                let range = min(i * per, n)..<min((i + 1) * per, n)
                shared.out[i].addSerially(UnsafeBufferPointer(rebasing: shared.x[range]), UnsafeBufferPointer(rebasing: shared.y[range]))
            }) { body in
                let work = UncheckedSendable(body)
                DispatchQueue.concurrentPerform(iterations: parts) { work.value($0) }
            }
            for part in partials { merge(part) }
        }

        mutating func merge(_ other: Statistics) {
            maxAbsolute = max(maxAbsolute, other.maxAbsolute)
            scale = max(scale, other.scale)
            nonFinite += other.nonFinite
            dot += other.dot; normA += other.normA; normB += other.normB
        }

        /// Chunks of 4,096 values through `CKernels_compare_stats`, each chunk's sums added in double; a
        /// chunk whose sums come out NaN or infinite is redone value by value to count its non-finite values.
        mutating func addSerially(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>) {
            let n = min(x.count, y.count), chunk = 4_096
            var start = 0
            while start < n {
                let end = min(start + chunk, n)
                var (largest, range, d, na, nb): (Float, Float, Float, Float, Float) = (0, 0, 0, 0, 0)
                CKernels_compare_stats(x.baseAddress! + start, y.baseAddress! + start, end - start, &largest, &range, &d, &na, &nb)
                if d.isFinite, na.isFinite, nb.isFinite {
                    maxAbsolute = max(maxAbsolute, largest); scale = max(scale, range)
                    dot += Double(d); normA += Double(na); normB += Double(nb)
                } else {
                    addCheckingEach(UnsafeBufferPointer(rebasing: x[start..<end]), UnsafeBufferPointer(rebasing: y[start..<end]))
                }
                start = end
            }
        }

        private mutating func addCheckingEach(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>) {
            for (p, q) in zip(x, y) {
                guard p.isFinite, q.isFinite else { nonFinite += 1; continue }
                maxAbsolute = max(maxAbsolute, abs(p - q)); scale = max(scale, abs(q))
                dot += Double(p) * Double(q); normA += Double(p) * Double(p); normB += Double(q) * Double(q)
            }
        }

        var cosine: Float {
            normA > 0 && normB > 0 ? Float(min(1, dot / (normA.squareRoot() * normB.squareRoot()))) : (normA == normB ? 1 : 0)
        }
    }

    /// Layer-by-layer differences in type, configuration and output shape, and in the input size.
    static func architectureDifferences(_ a: NativeArchitecture, _ b: NativeArchitecture) -> [String] {
        var lines: [String] = []
        if a.inputShape != b.inputShape { lines.append("input (C, H, W): \(a.inputShape) vs \(b.inputShape)") }
        // Layers that are identities at inference (Dropout, an AdaptiveAvgPool2D that keeps its map) do not count.
        func computing(_ architecture: NativeArchitecture) -> [NativeLayer] {
            var previous = architecture.inputShape
            return architecture.layers.filter { layer in
                defer { previous = layer.outputShape }
                return ![.input, .dropout].contains(layer.type) && !(layer.type == .adaptiveAvgPool2d && layer.outputShape == previous)
            }
        }
        let (la, lb) = (computing(a), computing(b))
        if la.count != lb.count {
            lines.append("\(la.count) layers vs \(lb.count): \(la.map(\.type.rawValue).joined(separator: ",")) vs \(lb.map(\.type.rawValue).joined(separator: ","))")
            return lines
        }
        for (x, y) in zip(la, lb) {
            if x.type != y.type {
                lines.append("layer \(x.name): \(x.type.rawValue) vs \(y.type.rawValue)")
                continue
            }
            for (label, left, right) in configFields(x.config, y.config) where left != right {
                lines.append("layer \(x.name) (\(x.type.rawValue)): \(label) \(left) vs \(right)")
            }
            if x.outputShape != y.outputShape { lines.append("layer \(x.name): output shape \(x.outputShape) vs \(y.outputShape)") }
        }
        return lines
    }

    /// The configuration fields as (name, A's value, B's value), defaults filled in so that a field one
    /// reader records and the other leaves to its default does not count as a difference.
    private static func configFields(_ a: LayerConfig, _ b: LayerConfig) -> [(String, String, String)] {
        func filled(_ c: LayerConfig) -> LayerConfig {
            var c = c
            if c.activation == nil { c.activation = "linear" }
            if c.useBias == nil { c.useBias = true }
            if c.center == nil { c.center = true }
            if c.scale == nil { c.scale = true }
            if c.epsilon == nil, c.center != nil { c.epsilon = LayerSchema.Default.batchNormEpsilon }
            if c.padding == nil { c.padding = LayerSchema.Default.padding }
            return c
        }
        let (x, y) = (Mirror(reflecting: filled(a)).children, Mirror(reflecting: filled(b)).children)
        return zip(x, y).map { left, right in
            func text(_ value: Any) -> String {
                let description = String(describing: value)
                return description.hasPrefix("Optional(") ? String(description.dropFirst(9).dropLast()) : description
            }
            return (left.label ?? "?", text(left.value), text(right.value))
        }
    }
}

extension ModelDiff.Report {
    /// The verdict first, then architecture differences, every tensor that differs (with its slip), the
    /// unpaired tensors, and a count of the identical ones.
    public var text: String {
        var lines = ["A: \(SafeText.quote(pathA)) (\(formatA))", "B: \(SafeText.quote(pathB)) (\(formatB))"]
        if let alignment { lines.append("note: \(alignment)") }
        lines += notes.map { "note: \($0)" }
        lines.append(architecture.isEmpty ? "architecture: same layers and configurations" : "architecture differs:")
        lines += architecture.map { "  \($0)" }
        let different = tensors.filter { !$0.equal }
        lines.append("tensors: \(tensors.count) compared, \(tensors.count - different.count) equal within |diff| <= \(atol) + \(rtol) x max|B|, \(different.count) differ")
        for t in different {
            let rename = t.nameInB.map { " (B: \($0))" } ?? ""
            if t.shapes.a != t.shapes.b {
                lines.append("  \(t.name)\(rename): shape \(t.shapes.a) vs \(t.shapes.b)")
                continue
            }
            let dtypes = t.dtypes.a == t.dtypes.b ? t.dtypes.a.rawValue : "\(t.dtypes.a.rawValue) vs \(t.dtypes.b.rawValue)"
            lines.append(String(format: "  %@%@ %@ %@: max |diff| %.3e, relative %.3e, cosine %.6f", t.name, rename, dtypes,
                                "\(t.shapes.a)", t.maxAbsoluteDifference, t.maxRelativeDifference, t.cosine))
            lines.append("      " + (t.slip.map { "slip: \($0)" } ?? "no known slip explains it"))
        }
        if !onlyInA.isEmpty { lines.append("only in A: \(onlyInA.joined(separator: ", "))") }
        if !onlyInB.isEmpty { lines.append("only in B: \(onlyInB.joined(separator: ", "))") }
        lines.append(identical ? "IDENTICAL" : "DIFFERENT")
        return lines.joined(separator: "\n")
    }

    /// The same as JSON (snake_case keys).
    public func json() throws -> String {
        struct Tensor: Encodable {
            var name: String, nameInB: String?, dtypeA: String, dtypeB: String, shapeA: [Int], shapeB: [Int]
            var maxAbsoluteDifference: Float?, maxRelativeDifference: Float?, cosine: Float?, equal: Bool, slip: String?
        }
        struct Document: Encodable {
            var a: String, b: String, formatA: String, formatB: String, identical: Bool, alignment: String?
            var architecture: [String], tensors: [Tensor], onlyInA: [String], onlyInB: [String], atol: Float, rtol: Float
            var notes: [String]
        }
        func finite(_ x: Float) -> Float? { x.isFinite ? x : nil }
        return try JSONOutput.text(Document(
            a: pathA, b: pathB, formatA: formatA, formatB: formatB, identical: identical, alignment: alignment, architecture: architecture,
            tensors: tensors.map { Tensor(name: $0.name, nameInB: $0.nameInB, dtypeA: $0.dtypes.a.rawValue, dtypeB: $0.dtypes.b.rawValue,
                                          shapeA: $0.shapes.a, shapeB: $0.shapes.b, maxAbsoluteDifference: finite($0.maxAbsoluteDifference),
                                          maxRelativeDifference: finite($0.maxRelativeDifference), cosine: finite($0.cosine),
                                          equal: $0.equal, slip: $0.slip) },
            onlyInA: onlyInA, onlyInB: onlyInB, atol: atol, rtol: rtol, notes: notes))
    }
}

/// Hands a closure to `concurrentPerform`'s workers; the caller guarantees they touch disjoint data.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
