import Foundation
import FileIO
import VGGCore

/// The repository's sample files and what the generator recorded about them (samples/manifest.json).
public enum Samples {
    /// The repository root, found from this file's location.
    public static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    public static let directory = repositoryRoot + "/samples"

    public static func path(_ name: String) -> String { "\(directory)/\(name)" }

    /// Every input flavour of every sample model: (file, model, its Keras config when it needs one).
    public static let everyFlavour: [(file: String, model: String, config: String?)] = [
        ("vgg_small_tfkeras_model.h5", "vgg_small", nil), ("vgg_small_keras3.keras", "vgg_small", nil),
        ("vgg_small_keras1_style.h5", "vgg_small", nil), ("vgg_small.pth", "vgg_small", nil),
        ("torch/vgg_small_legacy.pth", "vgg_small", nil),
        ("vgg_bn_tfkeras_model.h5", "vgg_bn", nil), ("vgg_bn_keras3.weights.h5", "vgg_bn", "vgg_bn_keras3_config.json"),
        ("vgg_bn.pth", "vgg_bn", nil),
        ("vgg_dropout_keras3_model.h5", "vgg_dropout", nil), ("vgg_dropout.pth", "vgg_dropout", nil),
        ("vgg_notop_tfkeras_weights.h5", "vgg_notop", nil), ("vgg_notop.pth", "vgg_notop", nil),
    ]

    /// One model's entry in the manifest.
    public struct Model: Decodable, Sendable {
        public let files: [String: String]
        public let tensors: [String]
        public let layers: [String]
        public let paramsTotal: Int
        public let paramsTrainable: Int
    }

    private struct Manifest: Decodable { let models: [String: Model] }

    /// All models the generator wrote, by name.
    public static let models: [String: Model] = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let data = try! Data(contentsOf: URL(fileURLWithPath: path("manifest.json")))
        return try! decoder.decode(Manifest.self, from: data).models
    }()

    /// The tensors PyTorch's state_dict holds for `model`, by canonical name (samples/expected/).
    public static func expectedTensors(_ model: String) throws -> [String: NpyArray] {
        let folder = "\(directory)/expected/\(model)"
        var result: [String: NpyArray] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) where name.hasSuffix(".npy") {
            result[String(name.dropLast(4))] = try NpyArray.read(path: "\(folder)/\(name)")
        }
        return result
    }
}

/// What `torch.load` returned for each file in samples/torch (written by the generator from torch).
public enum TorchExpectations {
    public struct Tensor: Decodable, Sendable {
        public let dtype: String
        public let shape: [Int]
        public let crc32: String
    }

    /// File name → key path → tensor.
    public static let files: [String: [String: Tensor]] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: Samples.path("torch/expected.json")))
        return try! JSONDecoder().decode([String: [String: Tensor]].self, from: data)
    }()
}

/// A fresh directory under /tmp, removed by `remove()`.
public struct TemporaryDirectory {
    public let path: String

    public init() {
        path = NSTemporaryDirectory() + "vggconv-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Names of the entries in the directory (hidden ones included).
    public func contents() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The result of running a process.
public struct ProcessResult {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs an executable and captures its output.
public func runProcess(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

/// The `vggconv` executable built with these tests: `$VGGCONV_BIN` when set, else the one beside the
/// test bundle (SwiftPM puts both in the same products directory, whatever the triple or
/// configuration), else `.build/debug/vggconv`.
public let vggconvExecutable: String = {
    if let override = ProcessInfo.processInfo.environment["VGGCONV_BIN"] { return override }
    var candidates: [String] = []
    var directory = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
    for _ in 0..<3 {  // the bundle may be a directory (Contents/MacOS/…) or a single file
        directory.deleteLastPathComponent()
        candidates.append(directory.appendingPathComponent("vggconv").path)
    }
    candidates.append(Samples.repositoryRoot + "/.build/debug/vggconv")
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
}()

/// Runs the `vggconv` binary built by `swift build`.
public func vggconv(_ arguments: String...) throws -> ProcessResult {
    try runProcess(vggconvExecutable, arguments)
}

/// Runs `python3` (the tests use it for numpy and jsonschema checks that do not go through our code).
public func python(_ arguments: [String]) throws -> ProcessResult {
    try runProcess("/usr/bin/env", ["python3"] + arguments)
}
