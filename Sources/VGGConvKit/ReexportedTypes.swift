import FileIO
import Inference
import KerasFormat
import TorchFormat
import VGGCore

// The types from VGGConvKit's lower modules that its public API throws or returns, named here so that an
// app needs `import VGGConvKit` only (those modules are not products of their own).

/// What would fix an error (``Remediable``), for an app to phrase as its own control.
public typealias Remedy = FileIO.Remedy
/// An error that knows what would fix it.
public typealias Remediable = FileIO.Remediable
/// Files, I/O, zip/npy/image/safetensors damage, resource limits.
public typealias VGGError = FileIO.VGGError
/// What is wrong with a zip archive.
public typealias ZipProblem = FileIO.ZipProblem
/// Not a `.vggw`, or a damaged one.
public typealias NativeFormatError = VGGCore.NativeFormatError
/// PyTorch files: refused pickles, unsupported features, state_dicts that are not a VGG.
public typealias TorchFormatError = TorchFormat.TorchFormatError
/// Keras files: configs and weights that disagree, files that need their architecture.
public typealias KerasFormatError = KerasFormat.KerasFormatError
/// libhdf5's view of a damaged or hostile HDF5 file.
public typealias HDF5Error = KerasFormat.HDF5Error
/// Inputs the engine cannot run: shapes, layouts, activations, memory.
public typealias InferenceError = Inference.InferenceError
/// A reader's choice that the file does not record.
public typealias Assumption = VGGCore.Assumption
