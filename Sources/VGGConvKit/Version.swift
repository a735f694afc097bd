import FileIO
import VGGCore

/// The library's version string.
public let version = VGGConvVersion.current
