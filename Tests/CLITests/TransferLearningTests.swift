import Foundation
import TestSupport
import VGGConvKit
import FileIO
import VGGCore
import XCTest

/// The models people save after fine-tuning a VGG (samples/transfer, written by tf-keras 2.21, Keras 3.15
/// and torch by samples/generate_transfer.py): a base nested in a Sequential or a functional model,
/// global-pooling heads, frozen and unfrozen blocks, optimizer state, sharded Keras 3 weights, PyTorch
/// modules beyond torchvision's key layout. Expected values are the frameworks' own: Keras's arrays,
/// outputs and `summary()` text.
final class TransferLearningTests: XCTestCase {
    static let kerasModels = ["tl_flatten", "tl_gap", "tl_gmp_keepdims", "tl_features"]
    /// Each Keras flavour of a model, with the architecture JSON a weights-only one needs.
    static let kerasFlavours: [(file: String, config: String?)] = [
        ("_tfkeras_model.h5", nil), ("_keras3.keras", nil), ("_keras3_model.h5", nil),
        ("_tfkeras_weights.h5", "_tfkeras_config.json"), ("_keras3.weights.h5", "_keras3_config.json"),
        ("_sharded/model.weights.json", "_keras3_config.json"),
    ]

    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    private func path(_ name: String) -> String { Samples.path("transfer/\(name)") }

    private func flavourArguments(_ model: String, _ flavour: (file: String, config: String?)) -> [String] {
        [path(model + flavour.file)] + (flavour.config.map { ["--config", path(model + $0)] } ?? [])
    }

    func testEveryKerasFlavourReproducesKerasOutputs() throws {
        for model in Self.kerasModels {
            for flavour in Self.kerasFlavours {
                let result = try runProcess(vggconvExecutable, ["verify"] + flavourArguments(model, flavour) + [
                    "--input", path("keras_input_nhwc.npy"), "--input-layout", "nhwc", "--golden", path("\(model)_keras_output.npy")])
                XCTAssertEqual(result.status, 0, "\(model)\(flavour.file): \(result.stdout) \(result.stderr)")
                XCTAssertTrue(result.stdout.contains("PASS"), "\(model)\(flavour.file): \(result.stdout)")
            }
        }
    }

    func testEveryKerasFlavourGivesKerasArraysBitForBit() throws {
        for model in Self.kerasModels {
            let folder = path("expected/\(model)")
            var expected: [String: NpyArray] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: folder) where name.hasSuffix(".npy") {
                expected[String(name.dropLast(4))] = try NpyArray.read(path: "\(folder)/\(name)")
            }
            XCTAssertFalse(expected.isEmpty)
            for flavour in Self.kerasFlavours {
                let output = scratch.file("\(model)-\(expected.count)-\(flavour.file.replacingOccurrences(of: "/", with: "_")).vggw")
                let result = try runProcess(vggconvExecutable, ["keras2native"] + flavourArguments(model, flavour) + ["-o", output])
                XCTAssertEqual(result.status, 0, "\(model)\(flavour.file): \(result.stderr)")
                let native = try NativeFile(path: output)
                XCTAssertEqual(Set(native.header.tensors.map(\.name)), Set(expected.keys), "\(model)\(flavour.file)")
                for tensor in native.header.tensors {
                    guard let want = expected[tensor.name] else { continue }
                    XCTAssertEqual(tensor.shape, want.shape, "\(model)\(flavour.file) \(tensor.name)")
                    XCTAssertTrue(native.withBytes(of: tensor) { Array($0) == want.bytes }, "\(model)\(flavour.file): \(tensor.name) differs from Keras's array")
                }
                let schema = try python([Samples.repositoryRoot + "/scripts/check/vggw_schema.py", output])
                XCTAssertEqual(schema.status, 0, schema.stdout + schema.stderr)
                // The nesting is kept: every base layer names the model around it.
                if model != "tl_features" {
                    let scoped = native.header.architecture.layers.filter { $0.scopes?.first?.name == "vgg_base" }
                    XCTAssertEqual(scoped.filter { $0.type == .conv2d }.count, 13, "\(model)\(flavour.file)")
                }
            }
        }
    }

    func testSummaryPrintsWhatKerasPrintsForEachFile() throws {
        for model in Self.kerasModels {
            for (file, capture, extra) in [("_tfkeras_model.h5", "_tfkeras.txt", [String]()), ("_keras3.keras", "_keras3.txt", []),
                                           ("_keras3_model.h5", "_keras3_h5.txt", []), ("_keras3.keras", "_keras3_expanded.txt", ["--expand"]),
                                           ("_tfkeras_model.h5", "_tfkeras_expanded.txt", ["--expand"])] {
                let result = try runProcess(vggconvExecutable, ["summary", path(model + file)] + extra)
                XCTAssertEqual(result.status, 0, result.stderr)
                let keras = try String(contentsOfFile: path("summaries/\(model)\(capture)"), encoding: .utf8)
                XCTAssertEqual(result.stdout, keras, "summary \(model)\(file) \(extra)")
            }
        }
    }

    /// Keras exports keep the nested base (its name, its layers, which of them train): the tf-keras .h5
    /// written from the Keras 3 archive summarises exactly as tf-keras summarised its own file. (That
    /// Keras loads them with the same structure: scripts/check/transfer_exports.py.)
    func testKerasExportsKeepTheNestedBase() throws {
        for model in ["tl_flatten", "tl_gap", "tl_gmp_keepdims"] {
            let exported = scratch.file("\(model).h5")
            let conversion = try vggconv("convert", path("\(model)_keras3.keras"), "-o", exported)
            XCTAssertEqual(conversion.status, 0, conversion.stderr)
            for (extra, capture) in [([String](), "_tfkeras.txt"), (["--expand"], "_tfkeras_expanded.txt")] {
                let summary = try runProcess(vggconvExecutable, ["summary", exported] + extra)
                XCTAssertEqual(summary.stdout, try String(contentsOfFile: path("summaries/\(model)\(capture)"), encoding: .utf8), "\(model) \(extra)")
            }
        }
    }

    /// Keras → PyTorch → Keras gives the same tensors bit for bit (the .pth flattens the nesting).
    func testKerasToPyTorchToKerasRoundTripIsBitIdentical() throws {
        for (model, count) in [("tl_flatten", 30), ("tl_gap", 28)] {  // 13 convolutions' and the head's weights and biases
            let pth = scratch.file("\(model).pth"), back = scratch.file("\(model)-back.keras")
            XCTAssertEqual(try vggconv("convert", path("\(model)_keras3.keras"), "-o", pth).status, 0)
            XCTAssertEqual(try vggconv("convert", pth, "-o", back).status, 0)
            // The tensors: every one bit-equal. (The architecture differs where a state_dict records nothing:
            // the input size, the final softmax.)
            let diff = try vggconv("diff", path("\(model)_keras3.keras"), back, "--json")
            let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(diff.stdout.utf8)) as? [String: Any])
            let tensors = try XCTUnwrap(report["tensors"] as? [[String: Any]])
            XCTAssertEqual(tensors.count, count, model)
            XCTAssertTrue(tensors.allSatisfy { $0["equal"] as? Bool == true && $0["max_absolute_difference"] as? Double == 0 }, model)
            XCTAssertEqual((report["only_in_a"] as? [Any])?.count, 0)
            XCTAssertEqual((report["only_in_b"] as? [Any])?.count, 0)
        }
    }

    func testFrozenBaseCountsAsNonTrainable() throws {
        let summary = try Summarizer.summary(path: path("tl_gap_keras3.keras"))
        // The frozen base's 14,550 weights are non-trainable; only the head (16·3 + 3) trains.
        XCTAssertEqual(summary.trainableParams, 51)
        XCTAssertEqual(summary.nonTrainableParams, 14_550)
        XCTAssertEqual(summary.topLevelRows.map(\.name), ["image", "vgg_base", "gap", "predictions"])
    }

    func testPyTorchModulesBeyondTorchvisionReproduceTorchOutputs() throws {
        for (model, extra) in [("tl_torch_seq", [String]()), ("tl_torch_backbone", []), ("tl_torch_prefixed", []),
                               ("tl_torch_maxpool", ["--pool", "max"])] {
            let converted = scratch.file("\(model).vggw")
            let conversion = try runProcess(vggconvExecutable, ["torch2native", path("\(model).pth"), "-o", converted] + extra)
            XCTAssertEqual(conversion.status, 0, "\(model): \(conversion.stderr)")
            let result = try vggconv("verify", converted, "--input", path("torch_input_nchw.npy"), "--golden", path("\(model)_torch_output.npy"))
            XCTAssertEqual(result.status, 0, "\(model): \(result.stdout) \(result.stderr)")
            // The .pth itself, converted on the fly with the same choice.
            let direct = try runProcess(vggconvExecutable, ["verify", path("\(model).pth"), "--input", path("torch_input_nchw.npy"),
                                                            "--golden", path("\(model)_torch_output.npy")] + extra)
            XCTAssertEqual(direct.status, 0, "\(model): \(direct.stdout) \(direct.stderr)")
        }
    }

    func testGlobalPoolingWithoutPoolChoiceIsNotedAndMaxPoolFailsAsAverage() throws {
        let converted = scratch.file("maxpool-as-avg.vggw")
        let conversion = try vggconv("torch2native", path("tl_torch_maxpool.pth"), "-o", converted)
        XCTAssertEqual(conversion.status, 0, conversion.stderr)
        XCTAssertTrue(conversion.stderr.contains("--pool max"), conversion.stderr)
        // Averaging where the model took the maximum gives other outputs: the choice is real.
        let result = try vggconv("verify", converted, "--input", path("torch_input_nchw.npy"), "--golden", path("tl_torch_maxpool_torch_output.npy"))
        XCTAssertEqual(result.status, 1, result.stdout)
    }

    func testPredictReadsASigmoidHeadAsTwoClasses() throws {
        let keras = try NpyArray.read(path: path("tl_flatten_photo_probability.npy"))
        XCTAssertEqual(keras.dtype, .float32)
        let expected = keras.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let labels = scratch.file("labels.txt")
        try "cat\ndog\n".write(toFile: labels, atomically: true, encoding: .utf8)
        let photos = ["astronaut_q90.jpg", "chelsea.png"].map { Samples.path("images/\($0)") }
        let result = try runProcess(vggconvExecutable, ["predict", path("tl_flatten_keras3.keras")] + photos + ["--labels", labels, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(rows.count, 2)
        for (row, want) in zip(rows, expected) {
            let top = try XCTUnwrap(row["top"] as? [[String: Any]])
            let dog = try XCTUnwrap(top.first { $0["label"] as? String == "dog" })
            XCTAssertEqual(dog["index"] as? Int, 1)
            XCTAssertEqual(try XCTUnwrap(dog["probability"] as? Double), Double(want), accuracy: 1e-4, "P(class 1) as Keras computes it")
            XCTAssertEqual(top.count, 2)
        }
        try "cat\ndog\nbird\n".write(toFile: labels, atomically: true, encoding: .utf8)
        let refused = try runProcess(vggconvExecutable, ["predict", path("tl_flatten_keras3.keras"), photos[0], "--labels", labels])
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.stderr.contains("3 labels"), refused.stderr)
    }

    /// `evaluate` on the labelled folder of photos and variants equals what Keras's pipeline (load_img,
    /// preprocess_input, predict) and torchvision's (ImageFolder, Resize + CenterCrop) compute.
    func testEvaluateEqualsTheFrameworksOwnPipelines() throws {
        let torchModel = scratch.file("backbone.vggw")
        XCTAssertEqual(try vggconv("torch2native", path("tl_torch_backbone.pth"), "-o", torchModel).status, 0)
        for (model, expectedFile, extra) in [(path("tl_gap_keras3.keras"), "tl_gap_evaluation.json", [String]()),
                                             (torchModel, "tl_torch_backbone_evaluation.json", ["--size", "64,64"])] {
            let picture = scratch.file("\(expectedFile).png")
            let result = try runProcess(vggconvExecutable, ["evaluate", model, path("eval"), "--json", "--png", picture] + extra)
            XCTAssertEqual(result.status, 0, result.stderr)
            let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            let framework = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path(expectedFile)))) as? [String: Any])
            XCTAssertEqual(report["n"] as? Int, framework["n"] as? Int, expectedFile)
            XCTAssertEqual(try XCTUnwrap(report["top1"] as? Double), try XCTUnwrap(framework["top1"] as? Double), accuracy: 1e-9, expectedFile)
            XCTAssertEqual(report["confusion"] as? [[Int]], framework["confusion"] as? [[Int]], expectedFile)
            XCTAssertEqual(report["classes"] as? [String], framework["classes"] as? [String], expectedFile)
            let perClass = try XCTUnwrap(report["per_class"] as? [[String: Any]])
            XCTAssertEqual(perClass.map { $0["n"] as? Int }, [6, 6, 6])
            XCTAssertTrue(FileManager.default.fileExists(atPath: picture))
        }
    }

    func testEvaluateRefusesFoldersThatAreNotTheModelsClasses() throws {
        // A sigmoid head has two classes; the folder has three.
        let result = try vggconv("evaluate", path("tl_flatten_keras3.keras"), path("eval"))
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("3 class folders but the model has 2 classes"), result.stderr)
        let labels = scratch.file("labels.txt")
        try "astronaut\ncat\ndog\n".write(toFile: labels, atomically: true, encoding: .utf8)
        let unnamed = try vggconv("evaluate", path("tl_gap_keras3.keras"), path("eval"), "--labels", labels)
        XCTAssertEqual(unnamed.status, 2)
        XCTAssertTrue(unnamed.stderr.contains("'rocket'") || unnamed.stderr.contains("rocket"), unnamed.stderr)
    }

    /// A refusal is one line on stderr, exit status 2 and no output file.
    private func assertRefused(_ arguments: [String], mentions text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let output = scratch.file("refused-\(UUID().uuidString).vggw")
        let result = try runProcess(vggconvExecutable, arguments + ["-o", output])
        XCTAssertEqual(result.status, 2, result.stdout, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(text), result.stderr, file: file, line: line)
        XCTAssertEqual(result.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }.count, 1, result.stderr, file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output), file: file, line: line)
    }

    func testAHeadNoPoolingExplainsIsRefused() throws {
        for pool in [[], ["--pool", "max"]] {
            try assertRefused(["torch2native", path("tl_torch_unpinned.pth")] + pool, mentions: "head.weight")
        }
    }

    func testANestedModelWhoseWeightsDoNotFitItsConfigIsRefused() throws {
        // The config renames an inner layer: its weights in the file belong to no layer of the config.
        let text = try String(contentsOfFile: path("tl_flatten_tfkeras_config.json"), encoding: .utf8)
        let config = scratch.file("renamed.json")
        try text.replacingOccurrences(of: "block3_conv2", with: "block3_convX").write(toFile: config, atomically: true, encoding: .utf8)
        try assertRefused(["keras2native", path("tl_flatten_tfkeras_weights.h5"), "--config", config], mentions: "block3_conv")
        try assertRefused(["keras2native", path("tl_flatten_keras3.weights.h5"), "--config", config], mentions: "block3_conv")
    }

    func testShardsOutsideTheIndexFolderAreRefused() throws {
        let folder = scratch.file("outside")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let index = try String(contentsOfFile: path("tl_gap_sharded/model.weights.json"), encoding: .utf8)
        // A path that climbs out of the folder.
        try index.replacingOccurrences(of: "\"model_00000.weights.h5\"", with: "\"../model_00000.weights.h5\"")
            .write(toFile: "\(folder)/model.weights.json", atomically: true, encoding: .utf8)
        try assertRefused(["keras2native", "\(folder)/model.weights.json", "--config", path("tl_gap_keras3_config.json")],
                          mentions: "not a plain file name")
        // A link in the folder that points out of it.
        try index.write(toFile: "\(folder)/model.weights.json", atomically: true, encoding: .utf8)
        for shard in ["model_00001.weights.h5", "model_00002.weights.h5"] {
            try FileManager.default.copyItem(atPath: path("tl_gap_sharded/\(shard)"), toPath: "\(folder)/\(shard)")
        }
        try FileManager.default.createSymbolicLink(atPath: "\(folder)/model_00000.weights.h5", withDestinationPath: path("tl_gap_sharded/model_00000.weights.h5"))
        try assertRefused(["keras2native", "\(folder)/model.weights.json", "--config", path("tl_gap_keras3_config.json")],
                          mentions: "links outside the index's folder")
    }

    func testAKerasModelFolderWithANestedBaseReadsAsTheKerasFile() throws {
        let result = try vggconv("summary", path("tl_gap_keras3_folder"))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, try String(contentsOfFile: path("summaries/tl_gap_keras3.txt"), encoding: .utf8))
        let verified = try vggconv("verify", path("tl_gap_keras3_folder"), "--input", path("keras_input_nhwc.npy"), "--input-layout", "nhwc",
                                   "--golden", path("tl_gap_keras_output.npy"))
        XCTAssertEqual(verified.status, 0, verified.stdout + verified.stderr)
    }

    func testAWeightsOnlyNestedFileWithoutConfigAsksForIt() throws {
        try assertRefused(["keras2native", path("tl_flatten_tfkeras_weights.h5")], mentions: "is a nested model")
        try assertRefused(["keras2native", path("tl_flatten_tfkeras_weights.h5")], mentions: "--config")
    }

    func testMissingShardIsRefusedByName() throws {
        let folder = scratch.file("shards")
        try FileManager.default.copyItem(atPath: path("tl_gap_sharded"), toPath: folder)
        try FileManager.default.removeItem(atPath: "\(folder)/model_00001.weights.h5")
        let output = scratch.file("out.vggw")
        let result = try vggconv("keras2native", "\(folder)/model.weights.json", "--config", path("tl_gap_keras3_config.json"), "-o", output)
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("model_00001.weights.h5"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output))
    }
}
