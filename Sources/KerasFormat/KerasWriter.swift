#if canImport(Glibc)
import Glibc
#endif
import Foundation
import FileIO
import VGGCore

/// Writes a conversion plan as the files Keras loads (facts: docs/exports.md, "Keras files"):
/// - `.h5`, full model: `model_config` (tf-keras dialect) + `model_weights`, for `load_model` in tf-keras
///   and Keras 3, and `load_weights` / `keras.applications.VGG16(weights=…)`;
/// - `.h5`, weights only: the `save_weights` layout (root `layer_names`, `<layer>/<layer>/kernel:0`);
/// - Keras 3 `.weights.h5`: `layers/<class counter>/vars/<i>`;
/// - `.keras`: a stored zip of `metadata.json`, `config.json` (Keras 3 dialect) and `model.weights.h5`.
/// Strings are fixed-length (old loaders `.decode()` them); `keras_version` and `backend` are always set.
/// libhdf5 writes each file's structure with the datasets' space reserved; the tensors are then streamed
/// into those ranges, converted to Keras's layout on the way, by the pipeline every writer shares.
public enum KerasWriter {
    public enum Flavour: String, CaseIterable, Sendable {
        case modelH5 = "h5 (full model)", weightsH5 = "h5 (weights only)", keras3Weights = "weights.h5", kerasArchive = "keras"

        var dialect: KerasModelJSON.Dialect { self == .keras3Weights || self == .kerasArchive ? .keras3 : .tfKeras }
    }

    /// What was written.
    public struct Result: Sendable {
        public var export: KerasExport
        public var tensorCount: Int
        public var bytes: Int
    }

    /// Writes `plan` to `path` as `flavour` (temporary file, renamed when complete).
    /// - Throws: `VGGError` for layers Keras cannot express and unwritable outputs; `HDF5Error` when libhdf5 fails.
    public static func write(_ plan: ConversionPlan, modelName: String?, flavour: Flavour, to path: String, overwrite: Bool,
                             progress: WriteProgress? = nil) throws -> Result {
        let export = try KerasExport(plan, modelName: modelName, keras3: flavour.dialect == .keras3)
        let output = try OutputFile(path: path, overwrite: overwrite)
        let bytes: Int
        if flavour == .kerasArchive {
            bytes = try writeArchive(export, to: output, progress: progress)
        } else {
            let skeleton = HDF5Skeleton()
            let tensors = try lay(export, flavour: flavour, into: skeleton)
            let offsets = try HDF5SkeletonWriter.write(skeleton, to: output.workingPath, displayPath: path)
            _ = try TensorStreamer.write(tensors, at: offsets, to: output, checksums: false, progress: progress)
            bytes = fileSize(output.workingPath)
        }
        try output.commit()
        return Result(export: export, tensorCount: export.variables.count, bytes: bytes)
    }

    /// Creates every group, attribute and (reserved) dataset of `flavour`; returns the tensors in the
    /// order their datasets were reserved.
    static func lay(_ export: KerasExport, flavour: Flavour, into file: HDF5Skeleton) throws -> [PlannedTensor] {
        let version = KerasModelJSON.kerasVersion(flavour.dialect)
        switch flavour {
        case .modelH5:
            file.setStrings([KerasModelJSON.text(export, dialect: .tfKeras)], named: "model_config", on: "/", scalar: true)
            setVersion(version, on: "/", in: file)
            file.createGroup("/model_weights")
            return try layLegacyWeights(export, group: "/model_weights", version: version, into: file)
        case .weightsH5:
            return try layLegacyWeights(export, group: "/", version: version, into: file)
        case .keras3Weights, .kerasArchive:
            return try layKeras3Weights(export, into: file)
        }
    }

    private static func setVersion(_ version: String, on group: String, in file: HDF5Skeleton) {
        file.setStrings(["tensorflow"], named: "backend", on: group, scalar: true)
        file.setStrings([version], named: "keras_version", on: group, scalar: true)
    }

    /// tf-keras's `save_weights` layout: `layer_names` lists every top-level layer (a functional model's
    /// input too), each layer group lists its `weight_names`, datasets at `<layer>/<layer>/<variable>:0`. A
    /// nested model's group holds all its layers' weights, `<model>/<inner layer>/<variable>:0`, listed as
    /// Keras loads them: trainable ones first, then the rest, each in layer order.
    private static func layLegacyWeights(_ export: KerasExport, group: String, version: String,
                                         into file: HDF5Skeleton) throws -> [PlannedTensor] {
        let prefix = group == "/" ? "" : group
        let nodes = export.nodes
        let names = (export.isFunctional ? [export.inputName] : []) + nodes.map(\.name)
        file.setStrings(names, named: "layer_names", on: group)
        setVersion(version, on: group, in: file)
        var tensors: [PlannedTensor] = []
        let empty = (export.isFunctional ? [export.inputName] : []) + ["top_level_model_weights"]
        for name in empty {
            file.createGroup("\(prefix)/\(name)")
            file.setEmptyList(named: "weight_names", on: "\(prefix)/\(name)")
        }
        for node in nodes {
            let layerGroup = "\(prefix)/\(node.name)"
            file.createGroup(layerGroup)
            let variables = node.legacyOrderedVariables
            let weightNames = variables.map { "\($0.layer)/\($0.variable.role.kerasName):0" }
            if weightNames.isEmpty {
                file.setEmptyList(named: "weight_names", on: layerGroup)
            } else {
                file.setStrings(weightNames, named: "weight_names", on: layerGroup)
            }
            for (entry, weightName) in zip(variables, weightNames) {
                file.reserveDataset("\(layerGroup)/\(weightName)", dtype: entry.variable.tensor.dtype, shape: entry.variable.tensor.shape)
                tensors.append(entry.variable.tensor)
            }
        }
        return tensors
    }

    /// Keras 3's layout: `layers/<snake_case class>[_N]/vars/<i>`, the counter per class in model order,
    /// variables trainable first (the schema's role order); empty `vars` groups for layers without weights.
    /// A nested model is `layers/functional/layers/…` with the same scheme inside.
    private static func layKeras3Weights(_ export: KerasExport, into file: HDF5Skeleton) throws -> [PlannedTensor] {
        var tensors: [PlannedTensor] = []
        func lay(_ nodes: [KerasExport.Node], functional: Bool, at base: String) throws {
            var keys = Keras3LayerKeys()
            func key(_ className: String) -> String { keys.next(className) }
            file.createGroup("\(base)/vars")
            if functional { file.createGroup("\(base)/layers/\(key(LayerType.input.rawValue))/vars") }
            for node in nodes {
                switch node {
                case .layer(let layer):
                    let vars = "\(base)/layers/\(key(layer.className))/vars"
                    file.createGroup(vars)
                    for (index, variable) in layer.variables.enumerated() {
                        file.reserveDataset("\(vars)/\(index)", dtype: variable.tensor.dtype, shape: variable.tensor.shape)
                        tensors.append(variable.tensor)
                    }
                case .model(let scope, _, _, let children):
                    try lay(children, functional: scope.className != "Sequential", at: "\(base)/layers/\(key(scope.className))")
                }
            }
        }
        try lay(export.nodes, functional: export.isFunctional, at: "")
        return tensors
    }

    /// The `.keras` zip: `metadata.json`, `config.json`, then `model.weights.h5` (stored), whose structure
    /// libhdf5 writes into a private scratch file; its bytes outside the reserved datasets are copied in
    /// and the tensors streamed straight into the archive. The member's CRC is combined from the parts'.
    private static func writeArchive(_ export: KerasExport, to output: OutputFile, progress: WriteProgress?) throws -> Int {
        // Never committed: a private temporary file, removed when released or on interrupt.
        let scratch = try OutputFile(path: output.path + ".weights-layout", overwrite: true)
        let skeleton = HDF5Skeleton()
        let tensors = try lay(export, flavour: .kerasArchive, into: skeleton)
        let offsets = try HDF5SkeletonWriter.write(skeleton, to: scratch.workingPath, displayPath: "\(output.path): model.weights.h5")
        let structure = try MappedFile(path: scratch.workingPath)
        let ranges = zip(offsets, tensors).map { $0..<($0 + $1.nbytes) }.sorted { $0.lowerBound < $1.lowerBound }
        let size = max(structure.count, ranges.last?.upperBound ?? 0)
        for (a, b) in zip(ranges, ranges.dropFirst()) where a.upperBound > b.lowerBound {
            throw HDF5Error(path: output.path, object: "model.weights.h5", reason: "libhdf5 placed two datasets over each other (\(a), \(b))")
        }
        var gaps: [Range<Int>] = []
        var position = 0
        for range in ranges + [size..<size] {
            if range.lowerBound > position { gaps.append(position..<range.lowerBound) }
            position = range.upperBound
        }

        let metadata = Array(#"{"keras_version": "\#(KerasModelJSON.kerasVersion(.keras3))", "date_saved": "\#(savedDate())"}"#.utf8)
        let config = Array(KerasModelJSON.text(export, dialect: .keras3).utf8)
        let archive = try ZipLayout([("metadata.json", metadata.count), ("config.json", config.count), ("model.weights.h5", size)])
        var crcs = [UInt32](repeating: 0, count: 3)
        for (index, payload) in [metadata, config].enumerated() {
            crcs[index] = payload.withUnsafeBytes { CRC32.of($0) }
            try payload.withUnsafeBytes { try output.write($0, at: archive.members[index].payloadOffset) }
        }
        let base = archive.members[2].payloadOffset
        var parts: [(start: Int, length: Int, crc: UInt32)] = []
        for gap in gaps {
            let count = min(gap.upperBound, structure.count) - gap.lowerBound
            let crc = try structure.withBytes(offset: gap.lowerBound, length: max(0, count)) { bytes -> UInt32 in
                try output.write(bytes, at: base + gap.lowerBound)
                return CRC32.of(bytes)
            }
            // A hole past the scratch file's end (libhdf5 had not extended it) reads as zeros.
            let zeros = [UInt8](repeating: 0, count: gap.count - max(0, count))
            try zeros.withUnsafeBytes { try output.write($0, at: base + gap.lowerBound + max(0, count)) }
            var combined = CRC32()
            combined.append(crc, length: max(0, count))
            combined.append(zeros.withUnsafeBytes { CRC32.of($0) }, length: zeros.count)
            parts.append((gap.lowerBound, gap.count, combined.value))
        }
        let streamed = try TensorStreamer.write(tensors, at: offsets.map { base + $0 }, to: output, progress: progress)
        parts += zip(offsets, zip(tensors, streamed)).map { ($0, $1.0.nbytes, $1.1) }
        var member = CRC32()
        for part in parts.sorted(by: { $0.start < $1.start }) { member.append(part.crc, length: part.length) }
        crcs[2] = member.value
        for index in archive.members.indices {
            try archive.localHeader(index).withUnsafeBytes { try output.write($0, at: archive.members[index].headerOffset) }
            let end = archive.members[index].payloadOffset + archive.members[index].size
            try archive.descriptor(index, crc: crcs[index]).withUnsafeBytes { try output.write($0, at: end) }
        }
        let directory = archive.directory(crcs: crcs)
        try directory.withUnsafeBytes { try output.write($0, at: archive.directoryOffset) }
        return archive.directoryOffset + directory.count
    }

    /// Keras's `date_saved` format: `2026-12-01@04:49:29`.
    private static func savedDate() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd@HH:mm:ss"
        return formatter.string(from: Date())
    }

    private static func fileSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }
}
