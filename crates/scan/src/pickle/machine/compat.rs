//! Python 2 module names as Python 3 reads them.

/// Python 3's `_compat_pickle` mapping of Python 2 module names, applied by `find_class` to
/// protocols below 3; an attacker can write `__builtin__` for `builtins`.
pub(super) fn python3_module(module: &str) -> &str {
    match module {
        "__builtin__" => "builtins",
        "copy_reg" => "copyreg",
        "cPickle" => "pickle",
        "commands" => "subprocess",
        "Queue" => "queue",
        "StringIO" | "cStringIO" => "io",
        "urllib2" => "urllib.request",
        "thread" => "_thread",
        "_winreg" => "winreg",
        "exceptions" => "builtins",
        "UserDict" | "UserList" | "UserString" => "collections",
        "SocketServer" => "socketserver",
        "httplib" => "http.client",
        "cookielib" => "http.cookiejar",
        "xmlrpclib" => "xmlrpc.client",
        "repr" => "reprlib",
        "dbm" | "anydbm" | "whichdb" | "dumbdbm" | "gdbm" => "dbm",
        "Tkinter" => "tkinter",
        other => other,
    }
}
