import Foundation
import TestSupport
import XCTest

/// `convert … -o X.pth` from every input flavour: the file is what torch.save writes (checked with
/// Python's own zipfile and pickletools, no framework needed), its tensors are bit-identical to the
/// canonical ones, and vggconv reads it back into a model that reproduces PyTorch's logits.
/// (Loading into torch itself: scripts/check_exports.py in the samples venv.)
final class PthExportTests: XCTestCase {
    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    /// Every input flavour of every sample model.
    static let inputs: [(file: String, model: String, config: String?)] = [
        ("vgg_small_tfkeras_model.h5", "vgg_small", nil), ("vgg_small_keras3.keras", "vgg_small", nil),
        ("vgg_small_keras1_style.h5", "vgg_small", nil), ("vgg_small.pth", "vgg_small", nil),
        ("torch/vgg_small_legacy.pth", "vgg_small", nil),
        ("vgg_bn_tfkeras_model.h5", "vgg_bn", nil), ("vgg_bn_keras3.weights.h5", "vgg_bn", "vgg_bn_keras3_config.json"),
        ("vgg_bn.pth", "vgg_bn", nil),
        ("vgg_dropout_keras3_model.h5", "vgg_dropout", nil), ("vgg_dropout.pth", "vgg_dropout", nil),
        ("vgg_notop_tfkeras_weights.h5", "vgg_notop", nil), ("vgg_notop.pth", "vgg_notop", nil),
    ]

    func crcs(_ path: String) throws -> [String: String] {
        let result = try vggconv("inspect", path, "--json")
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let tensors = object?["tensors"] as? [[String: Any]] ?? []
        return Dictionary(tensors.map { ($0["name"] as? String ?? "", $0["crc32"] as? String ?? "") }) { a, _ in a }
    }

    func testEveryFlavourExportsBitIdenticalTensorsInTorchsLayout() throws {
        for input in Self.inputs {
            let source = Samples.path(input.file)
            let stem = input.file.replacingOccurrences(of: "/", with: "_")
            let pth = scratch.file("\(stem).pth"), native = scratch.file("\(stem).vggw")
            let config = input.config.map { ["--config", Samples.path($0)] } ?? []
            let export = try runProcess(vggconvExecutable, ["convert", source, "-o", pth] + config)
            XCTAssertEqual(export.status, 0, "\(input.file): \(export.stderr)")
            XCTAssertEqual(try runProcess(vggconvExecutable, ["convert", source, "-o", native] + config).status, 0)
            // vggconv's own reader: the same canonical tensors, bit for bit.
            let expected = try crcs(native), exported = try crcs(pth)
            XCTAssertFalse(expected.isEmpty)
            for (name, crc) in expected {
                XCTAssertEqual(exported[name], crc, "\(input.file): \(name) differs from the .vggw's")
            }
            // Python's zipfile and pickletools: torch.save's container, only weights_only-safe opcodes.
            let check = try python(["-c", Self.structureCheck, pth])
            XCTAssertEqual(check.status, 0, "\(input.file): \(check.stdout) \(check.stderr)")
        }
    }

    /// The .pth written from a Keras file reads back (keys, gaps and all) as the same network, which
    /// reproduces PyTorch's logits for the generator's inputs.
    func testKerasToPthRoundTripReproducesPyTorchLogits() throws {
        for model in ["vgg_small", "vgg_bn", "vgg_dropout"] {
            let pth = scratch.file("\(model).pth"), back = scratch.file("\(model).vggw")
            XCTAssertEqual(try vggconv("convert", Samples.path("\(model)_tfkeras_model.h5"), "-o", pth).status, 0)
            let reread = try vggconv("convert", pth, "-o", back)
            XCTAssertEqual(reread.status, 0, reread.stderr)
            let verify = try vggconv("verify", back, "--input", Samples.path("golden/\(model)_input_nchw.npy"),
                                     "--golden", Samples.path("golden/\(model)_torch_logits.npy"))
            XCTAssertEqual(verify.status, 0, "\(model): \(verify.stdout) \(verify.stderr)")
        }
    }

    func testModuleFileDescribesTheSequential() throws {
        let pth = scratch.file("bn.pth")
        let result = try vggconv("convert", Samples.path("vgg_bn_tfkeras_model.h5"), "-o", pth)
        XCTAssertEqual(result.status, 0, result.stderr)
        let source = try String(contentsOfFile: scratch.file("bn.py"), encoding: .utf8)
        XCTAssertTrue(source.contains("nn.BatchNorm2d(8, eps=1e-05)"), source)
        XCTAssertTrue(result.stderr.contains("wrote \(scratch.file("bn.py"))"), result.stderr)
        XCTAssertEqual(try python(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())", scratch.file("bn.py")]).status, 0)
    }

    func testUnwritableFormatsAndExistingOutputsAreRefused() throws {
        for output in ["x.onnx", "x.txt"] {
            let result = try vggconv("convert", Samples.path("vgg_small.pth"), "-o", scratch.file(output))
            XCTAssertEqual(result.status, 2, result.stderr)
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
        }
        // BatchNorm with scale but no center (or the reverse) has no nn.BatchNorm equivalent.
        let variants = try vggconv("convert", Samples.path("bn_variants_tfkeras_model.h5"), "-o", scratch.file("v.pth"))
        XCTAssertEqual(variants.status, 2, variants.stderr)
        XCTAssertTrue(variants.stderr.contains("only one of scale and center"), variants.stderr)
        let pth = scratch.file("x.pth")
        try Data("keep".utf8).write(to: URL(fileURLWithPath: pth))
        let existing = try vggconv("convert", Samples.path("vgg_small.pth"), "-o", pth)
        XCTAssertEqual(existing.status, 2)
        XCTAssertTrue(existing.stderr.contains("already exists"), existing.stderr)
        XCTAssertEqual(Set(scratch.contents()), ["x.pth"])
    }

    /// Checks a .pth with Python's standard library only: zip CRCs, 64-byte aligned payloads, data
    /// descriptors, the records torch.save writes, and a pickle of only the opcodes and globals that
    /// torch's weights_only unpickler accepts (export-formats.md §1).
    static let structureCheck = #"""
    import pickletools, struct, sys, zipfile
    path = sys.argv[1]
    raw = open(path, "rb").read()
    z = zipfile.ZipFile(path)
    assert z.testzip() is None, "CRC mismatch"
    names = z.namelist()
    folder = names[0].split("/")[0]
    assert names[0] == folder + "/data.pkl", names[0]
    for required in ("byteorder", "version"):
        assert folder + "/" + required in names, required
    assert z.read(folder + "/version") == b"3\n"
    for info in z.infolist():
        assert info.compress_type == zipfile.ZIP_STORED and info.flag_bits & 0x08, info.filename
        name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
        start = info.header_offset + 30 + name_len + extra_len
        assert start % 64 == 0, (info.filename, start)
        assert raw[start + info.file_size:start + info.file_size + 4] == b"PK\x07\x08", info.filename
    allowed = {"PROTO", "GLOBAL", "REDUCE", "MARK", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "EMPTY_TUPLE",
               "BINPERSID", "BININT", "BININT1", "BININT2", "LONG1", "NEWFALSE", "BINUNICODE", "SETITEMS", "STOP"}
    globals_ok = {"collections OrderedDict", "torch._utils _rebuild_tensor_v2"} | {
        "torch " + s for s in ("FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage", "LongStorage")}
    for op, arg, _ in pickletools.genops(z.read(folder + "/data.pkl")):
        assert op.name in allowed, op.name
        if op.name == "GLOBAL":
            assert arg in globals_ok, arg
    print("ok")
    """#
}
