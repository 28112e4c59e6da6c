// Opens the default truststore the way a TLS client would and counts its
// trust anchors.
import java.security.KeyStore;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

public class TrustAnchors {
    public static void main(String[] args) throws Exception {
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init((KeyStore) null);
        int n = 0;
        for (var tm : tmf.getTrustManagers()) {
            if (tm instanceof X509TrustManager x) n += x.getAcceptedIssuers().length;
        }
        System.out.println((n > 100 ? "ok" : "too few") + " anchors=" + n);
        System.exit(n > 100 ? 0 : 1);
    }
}
