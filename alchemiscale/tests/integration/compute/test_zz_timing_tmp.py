import time
from alchemiscale.gufe_chain import to_keyed_chain_json

def test_timing(n4js, network, scope_test, compute_api_url):
    for _ in range(2):
        t=time.time(); n4js.reset(); t1=time.time(); n4js.initialize(); t2=time.time()
        chain = to_keyed_chain_json(network); t3=time.time()
        n4js.assemble_network(chain, scope_test); t4=time.time()
        print(f"reset {t1-t:.2f} init {t2-t1:.2f} chain {t3-t2:.2f} assemble {t4-t3:.2f}")
