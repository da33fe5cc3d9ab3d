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

/// Python 3's `_compat_pickle.NAME_MAPPING`, which `find_class` applies before the module
/// mapping for protocols below 3: `__builtin__.long` loads `builtins.int`, and
/// `__builtin__.reduce` loads `functools.reduce` — so the name is judged as it loads.
pub(super) fn python3_name(module: &str, name: &str) -> Option<(&'static str, &'static str)> {
    Some(match (module, name) {
        ("__builtin__", "xrange") => ("builtins", "range"),
        ("__builtin__", "reduce") => ("functools", "reduce"),
        ("__builtin__", "intern") => ("sys", "intern"),
        ("__builtin__", "unichr") => ("builtins", "chr"),
        ("__builtin__", "unicode") => ("builtins", "str"),
        ("__builtin__", "long") => ("builtins", "int"),
        ("__builtin__", "basestring") => ("builtins", "str"),
        ("itertools", "izip") => ("builtins", "zip"),
        ("itertools", "imap") => ("builtins", "map"),
        ("itertools", "ifilter") => ("builtins", "filter"),
        ("itertools", "ifilterfalse") => ("itertools", "filterfalse"),
        ("itertools", "izip_longest") => ("itertools", "zip_longest"),
        ("UserDict", "IterableUserDict" | "UserDict") => ("collections", "UserDict"),
        ("UserList", "UserList") => ("collections", "UserList"),
        ("UserString", "UserString") => ("collections", "UserString"),
        ("whichdb", "whichdb") => ("dbm", "whichdb"),
        ("_socket", "fromfd") => ("socket", "fromfd"),
        ("urllib", "urlopen") => ("urllib.request", "urlopen"),
        ("urllib", "urlretrieve") => ("urllib.request", "urlretrieve"),
        ("urllib", "urlcleanup") => ("urllib.request", "urlcleanup"),
        ("urllib", "getproxies") => ("urllib.request", "getproxies"),
        ("urllib", "pathname2url") => ("urllib.request", "pathname2url"),
        ("urllib", "url2pathname") => ("urllib.request", "url2pathname"),
        ("urllib", "urlencode") => ("urllib.parse", "urlencode"),
        ("urllib", "quote") => ("urllib.parse", "quote"),
        ("urllib", "quote_plus") => ("urllib.parse", "quote_plus"),
        ("urllib", "unquote") => ("urllib.parse", "unquote"),
        ("urllib", "unquote_plus") => ("urllib.parse", "unquote_plus"),
        ("urllib", "ContentTooShortError") => ("urllib.error", "ContentTooShortError"),
        ("urllib2", "HTTPError") => ("urllib.error", "HTTPError"),
        ("urllib2", "URLError") => ("urllib.error", "URLError"),
        _ => return None,
    })
}
