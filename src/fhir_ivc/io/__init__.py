"""fhir_ivc.io"""
