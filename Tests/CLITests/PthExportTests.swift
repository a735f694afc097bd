import Foundation
import TestSupport
import XCTest

/// `convert … -o X.pth` from every input flavour: the file is what torch.save writes (checked with
/// Python's own zipfile and pickletools, no framework needed), its tensors are bit-identical to the
/// canonical ones, and vggconv reads it back into a model that reproduces PyTorch's logits.
/// (Loading into torch itself: scripts/check/exports.py in the samples venv.)
final class PthExportTests: XCTestCase {
    var scratch: TemporaryDirectory!
    override func setUp() { scratch = TemporaryDirectory() }
    override func tearDown() { scratch.remove() }

    func crcs(_ path: String) throws -> [String: String] {
        let result = try vggconv("inspect", path, "--json")
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let tensors = object?["tensors"] as? [[String: Any]] ?? []
        return Dictionary(tensors.map { ($0["name"] as? String ?? "", $0["crc32"] as? String ?? "") }) { a, _ in a }
    }

    func testEveryFlavourExportsBitIdenticalTensorsInTorchsLayout() throws {
        for input in Samples.everyFlavour {
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
            // The same keys and bytes as safetensors, whose offsets tile the data.
            let safetensors = scratch.file("\(stem)_st.safetensors")  // its own module file beside it
            XCTAssertEqual(try runProcess(vggconvExecutable, ["convert", source, "-o", safetensors] + config).status, 0)
            let tiles = try python(["-c", Self.safetensorsCheck, safetensors, pth])
            XCTAssertEqual(tiles.status, 0, "\(input.file): \(tiles.stdout) \(tiles.stderr)")
            XCTAssertEqual(try crcs(safetensors).filter { expected[$0.key] != nil }, expected, input.file)
        }
    }

    /// vggconv's own safetensors keep the whole architecture (softmax, epsilon) in `__metadata__`; with
    /// the metadata stripped, as a file from elsewhere, the keys alone give the same network's logits.
    func testSafetensorsRoundTripsWithAndWithoutMetadata() throws {
        for model in ["vgg_small", "vgg_bn"] {
            let file = scratch.file("\(model).safetensors"), back = scratch.file("\(model).vggw")
            XCTAssertEqual(try vggconv("convert", Samples.path("\(model)_tfkeras_model.h5"), "-o", file).status, 0)
            XCTAssertEqual(try vggconv("convert", file, "-o", back).status, 0)
            let input = Samples.path("golden/\(model)_input_nchw.npy")
            let full = try vggconv("verify", back, "--input", input, "--golden", Samples.path("golden/\(model)_torch_output.npy"))
            XCTAssertEqual(full.status, 0, full.stdout)
            let bare = scratch.file("\(model)_bare.safetensors"), bareBack = scratch.file("\(model)_bare.vggw")
            XCTAssertEqual(try python(["-c", Self.stripMetadata, file, bare]).status, 0)
            let reread = try vggconv("convert", bare, "-o", bareBack)
            XCTAssertEqual(reread.status, 0, reread.stderr)
            let logits = try vggconv("verify", bareBack, "--input", input, "--golden", Samples.path("golden/\(model)_torch_logits.npy"))
            XCTAssertEqual(logits.status, 0, logits.stdout)
        }
    }

    func testDamagedSafetensorsAreRefused() throws {
        let file = scratch.file("x.safetensors")
        XCTAssertEqual(try vggconv("convert", Samples.path("vgg_small.pth"), "-o", file).status, 0)
        let whole = try Data(contentsOf: URL(fileURLWithPath: file))
        let cases: [(String, Data, String)] = [
            ("truncated", whole.prefix(whole.count - 4), "but the file has"),
            ("padded", whole + Data([0, 0, 0, 0]), "but the file has"),
            ("huge header", Data([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]) + whole.dropFirst(8), "not a format vggconv reads"),
        ]
        for (label, data, message) in cases {
            let path = scratch.file("\(label.replacingOccurrences(of: " ", with: "_")).safetensors")
            try data.write(to: URL(fileURLWithPath: path))
            let result = try vggconv("inspect", path)
            XCTAssertEqual(result.status, 2, "\(label): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(message), "\(label): \(result.stderr)")
        }
    }

    /// ONNX from every flavour, decoded with a few lines of Python (no onnx package): ir_version 8, opset
    /// 17, nodes in topological order, every initializer's raw bytes those of the .vggw tensor of the same
    /// name. (onnx.checker and onnxruntime themselves: scripts/check/exports.py.)
    func testOnnxGraphsAreSortedAndCarryTheCanonicalTensors() throws {
        for input in Samples.everyFlavour {
            let source = Samples.path(input.file), stem = input.file.replacingOccurrences(of: "/", with: "_")
            let config = input.config.map { ["--config", Samples.path($0)] } ?? []
            let onnx = scratch.file("\(stem).onnx"), native = scratch.file("\(stem).vggw")
            XCTAssertEqual(try runProcess(vggconvExecutable, ["convert", source, "-o", onnx] + config).status, 0, input.file)
            XCTAssertEqual(try runProcess(vggconvExecutable, ["convert", source, "-o", native] + config).status, 0, input.file)
            let expected = try crcs(native)
            let result = try python(["-c", Self.onnxCheck, onnx])
            XCTAssertEqual(result.status, 0, "\(input.file): \(result.stderr)")
            let found = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: String] ?? [:]
            XCTAssertEqual(found, expected, input.file)
        }
        let typed = try vggconv("convert", Samples.path("vgg_small.pth"), "-o", scratch.file("half.onnx"), "--dtype", "f16")
        XCTAssertEqual(typed.status, 2, typed.stderr)
    }

    static let onnxCheck = #"""
    import json, sys, zlib
    def fields(buf):
        i = 0
        while i < len(buf):
            key, i = varint(buf, i)
            number, wire = key >> 3, key & 7
            if wire == 0:
                value, i = varint(buf, i)
            elif wire == 2:
                length, i = varint(buf, i)
                value, i = buf[i:i + length], i + length
            elif wire == 5:
                value, i = buf[i:i + 4], i + 4
            else:
                raise SystemExit(f"unexpected wire type {wire}")
            yield number, value
    def packed(buf):
        out, i = [], 0
        while i < len(buf):
            value, i = varint(buf, i)
            out.append(value)
        return out
    def varint(buf, i):
        shift = result = 0
        while True:
            b = buf[i]; i += 1
            result |= (b & 0x7F) << shift; shift += 7
            if b < 0x80: return result, i
    raw = open(sys.argv[1], "rb").read()
    top = list(fields(raw))
    assert dict(top)[1] == 8, "ir_version"
    opset = dict(fields(dict(top)[8]))
    assert opset.get(2) == 17 and opset.get(1, b"") == b"", opset
    graph = list(fields(dict(top)[7]))
    initializers, defined = {}, {"input"}
    for number, value in graph:
        if number == 5:
            t = list(fields(value))
            name = dict(t)[8].decode()
            data = dict(t)[9]
            dims = [d for n, v in t if n == 1 for d in (packed(v) if isinstance(v, bytes) else [v])]
            count = 1
            for d in dims: count *= d
            assert count * 4 == len(data), (name, dims, len(data))
            initializers[name] = "%08x" % zlib.crc32(data)
            defined.add(name)
    for number, value in graph:
        if number == 1:
            node = list(fields(value))
            for n, v in node:
                if n == 1:
                    assert v.decode() in defined, f"{v.decode()} used before it is defined"
            defined.update(v.decode() for n, v in node if n == 2)
    print(json.dumps(initializers))
    """#

    /// safetensors' rules (huggingface/safetensors): u64 header length, JSON, offsets that tile the data
    /// exactly; keys and bytes the same as the .pth's.
    static let safetensorsCheck = #"""
    import json, struct, sys, zipfile, pickle
    raw = open(sys.argv[1], "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    assert all(isinstance(v, str) for v in header.pop("__metadata__", {}).values())
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in header.items())
    cursor = 0
    for begin, end, key in spans:
        assert begin == cursor, key
        cursor = end
    assert 8 + n + cursor == len(raw)
    z = zipfile.ZipFile(sys.argv[2])
    folder = z.namelist()[0].split("/")[0]
    keys = [k for k in header]
    names = [n for n in z.namelist() if "/data/" in n]
    assert len(names) == len(keys), (len(names), len(keys))
    print("ok")
    """#

    /// Rewrites a safetensors file as `safetensors.torch.save_file` would have: no vggconv metadata, and
    /// the data in key-name order (`classifier.*` before `features.*`, `10` before `2`), not module order.
    static let stripMetadata = #"""
    import json, struct, sys
    raw = open(sys.argv[1], "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__")
    data, cursor, out = raw[8 + n:], 0, {}
    chunks = []
    for key in sorted(header):
        begin, end = header[key]["data_offsets"]
        chunks.append(data[begin:end])
        out[key] = dict(header[key], data_offsets=[cursor, cursor + end - begin])
        cursor += end - begin
    text = json.dumps(out).encode()
    open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + b"".join(chunks))
    """#

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

    /// run, verify and bench take any readable model, converting it on the fly (and leaving nothing behind).
    func testVerifyAndBenchTakeEveryFormat() throws {
        let safetensors = scratch.file("small.safetensors")
        XCTAssertEqual(try vggconv("convert", Samples.path("vgg_small.pth"), "-o", safetensors).status, 0)
        let input = Samples.path("golden/vgg_small_input_nchw.npy")
        for (model, golden) in [("vgg_small_keras3.keras", "vgg_small_torch_output"), ("vgg_small.pth", "vgg_small_torch_logits"),
                                ("torch/vgg_small_legacy.pth", "vgg_small_torch_logits"), (safetensors, "vgg_small_torch_logits")] {
            let path = model.hasPrefix("/") ? model : Samples.path(model)
            let result = try vggconv("verify", path, "--input", input, "--golden", Samples.path("golden/\(golden).npy"))
            XCTAssertEqual(result.status, 0, "\(model): \(result.stdout) \(result.stderr)")
        }
        XCTAssertEqual(try vggconv("bench", Samples.path("vgg_bn_tfkeras_model.h5"), "--iterations", "1").status, 0)
    }

    /// A timm VGG saved by timm (samples/generate_timm.py): its ConvMlp head read as Dense layers, and
    /// vggconv's engine reproduces timm's own logits.
    func testTimmSafetensorsReproducesTimm() throws {
        let result = try vggconv("verify", Samples.path("timm_vgg_small.safetensors"),
                                 "--input", Samples.path("golden/timm_vgg_small_input_nchw.npy"),
                                 "--golden", Samples.path("golden/timm_vgg_small_logits.npy"))
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        let exported = scratch.file("timm.pth")
        XCTAssertEqual(try vggconv("convert", Samples.path("timm_vgg_small.safetensors"), "-o", exported).status, 0)
    }

    /// --arch for a Keras 3 .weights.h5 without config: a name that does not fit the stored weights is
    /// refused naming the misfit, an unknown name is refused. (A real keras.applications VGG16 converts
    /// bit-identically to its .keras: scripts/check/exports.py.)
    func testArchForKeras3WeightsRefusesWhatDoesNotFit() throws {
        let misfit = try vggconv("convert", Samples.path("vgg_small_keras3.weights.h5"), "--arch", "vgg11", "-o", scratch.file("a.vggw"))
        XCTAssertEqual(misfit.status, 2)
        XCTAssertTrue(misfit.stderr.contains("conv2d_10"), misfit.stderr)
        let unknown = try vggconv("keras2native", Samples.path("vgg_small_keras3.weights.h5"), "--arch", "vgg77", "-o", scratch.file("b.vggw"))
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("unknown architecture 'vgg77'"), unknown.stderr)
        XCTAssertEqual(scratch.contents(), [])
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
        for output in ["x.txt", "x.tflite"] {
            let result = try vggconv("convert", Samples.path("vgg_small.pth"), "-o", scratch.file(output))
            XCTAssertEqual(result.status, 2, result.stderr)
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
        }
        // BatchNorm with scale but no center (or the reverse): written with the constant PyTorch needs.
        let variants = try vggconv("convert", Samples.path("bn_variants_tfkeras_model.h5"), "-o", scratch.file("v.pth"))
        XCTAssertEqual(variants.status, 0, variants.stderr)
        XCTAssertEqual(try python(["-c", Self.structureCheck, scratch.file("v.pth")]).status, 0)
        for file in ["v.pth", "v.py"] { try FileManager.default.removeItem(atPath: scratch.file(file)) }
        let pth = scratch.file("x.pth")
        try Data("keep".utf8).write(to: URL(fileURLWithPath: pth))
        let existing = try vggconv("convert", Samples.path("vgg_small.pth"), "-o", pth)
        XCTAssertEqual(existing.status, 2)
        XCTAssertTrue(existing.stderr.contains("already exists"), existing.stderr)
        XCTAssertEqual(Set(scratch.contents()), ["x.pth"])
    }

    /// Checks a .pth with Python's standard library only: zip CRCs, 64-byte aligned payloads, data
    /// descriptors, the records torch.save writes, and a pickle of only the opcodes and globals that
    /// torch's weights_only unpickler accepts (docs/exports.md, the `.pth` row).
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
